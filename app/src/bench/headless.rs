//! One frame of the app without a window: egui driven directly (no painter), timed by the UI
//! thread's CPU clock over the view-model update, drawing into egui and tessellation.

use std::time::{Duration, Instant};

use crate::{egui, CrashcourseApp};

/// An egui context standing in for the window, at a fixed size.
pub struct Headless {
    ctx: egui::Context,
    size: egui::Vec2,
    start: Instant,
}

impl Headless {
    /// A context for a window of `size` points.
    pub fn new(size: egui::Vec2) -> Headless {
        Headless {
            ctx: egui::Context::default(),
            size,
            start: Instant::now(),
        }
    }

    /// Runs one frame of `app` (what eframe does before painting: the view model, the panels,
    /// tessellation) and returns the UI thread's CPU time for it.
    pub fn frame(&mut self, app: &mut CrashcourseApp) -> Duration {
        let cpu = thread_cpu_time();
        let input = egui::RawInput {
            screen_rect: Some(egui::Rect::from_min_size(egui::Pos2::ZERO, self.size)),
            time: Some(self.start.elapsed().as_secs_f64()),
            ..Default::default()
        };
        // The view model is updated once per frame even if egui asks for a second pass.
        let mut updated = false;
        let output = self.ctx.run_ui(input, |ui| {
            if !updated {
                app.update_view_model();
                updated = true;
            }
            app.draw(ui);
        });
        let egui::FullOutput {
            shapes,
            pixels_per_point,
            mut textures_delta,
            ..
        } = output;
        let primitives = self.ctx.tessellate(shapes, pixels_per_point);
        std::hint::black_box(primitives);
        // No painter takes the texture updates: dropping them unhandled is a debug assertion.
        textures_delta.clear();
        thread_cpu_time().saturating_sub(cpu)
    }
}

/// CPU time of the calling thread.
#[cfg(unix)]
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID needs nothing else.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Elsewhere, wall time (an upper bound of the CPU time).
#[cfg(not(unix))]
fn thread_cpu_time() -> Duration {
    use std::sync::OnceLock;
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed()
}
