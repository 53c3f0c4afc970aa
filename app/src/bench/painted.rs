//! Whole painted frames: the app in a real eframe window (glow), paced at 60 Hz, each frame
//! timed by the wall clock from the start of its update to the start of the next one, so the
//! time covers the view model, the panels, tessellation, painting, the buffer swap and the
//! event loop.

use std::path::Path;
use std::time::{Duration, Instant};

use crashcourse_runtime::Handle;
use eframe::glow::HasContext as _;

use crate::{egui, CrashcourseApp};

/// What the window measured.
pub struct Painted {
    /// Wall time of each measured frame.
    pub frames: Vec<Duration>,
    /// The GL renderer that painted (e.g. `llvmpipe` for Mesa's software rasteriser).
    pub renderer: String,
    /// Runtime events and messages per second while the measured frames ran.
    pub events_per_sec: f64,
}

/// How long the window part may take before it gives up.
const LIMIT: Duration = Duration::from_secs(120);

/// Why the bench needs a display, and how to give it one.
pub const NO_DISPLAY: &str = "bench gui paints real frames and needs a display (no DISPLAY or \
    WAYLAND_DISPLAY is set): run it under Xvfb, e.g. `xvfb-run -a crashcourse bench gui`";

/// True when a window can be opened (an X11 or Wayland display is named).
pub fn display_available() -> bool {
    std::env::var_os("DISPLAY").is_some_and(|d| !d.is_empty())
        || std::env::var_os("WAYLAND_DISPLAY").is_some_and(|d| !d.is_empty())
}

/// Opens a `size` window over `app`, paces frames at one per `period`, lets `warmup` frames
/// pass, measures `frames` frames, and closes the window. `storage` holds what eframe persists
/// (nothing of the user's).
pub fn measure(
    app: &mut CrashcourseApp,
    size: egui::Vec2,
    period: Duration,
    warmup: usize,
    frames: usize,
    storage: &Path,
) -> Result<Painted, String> {
    let handle = app.handle();
    let mut window = Window {
        app,
        handle,
        period,
        warmup,
        wanted: frames,
        samples: Vec::with_capacity(warmup + frames),
        frame_start: None,
        painted: false,
        started: Instant::now(),
        events_before: None,
        result: None,
    };
    let mut renderer = None;
    let mut options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Crashcourse bench")
            .with_inner_size(size),
        renderer: eframe::Renderer::Glow,
        persist_window: false,
        persistence_path: Some(storage.join("eframe")),
        ..Default::default()
    };
    // The bench paces frames itself; a blocking swap would hide the paint cost in a wait.
    options.glow_options.vsync = false;
    eframe::run_native(
        "Crashcourse bench",
        options,
        Box::new(|cc| {
            renderer = cc
                .gl
                .as_ref()
                // SAFETY: reading a string parameter from the context eframe just made current.
                .map(|gl| unsafe { gl.get_parameter_string(eframe::glow::RENDERER) });
            Ok(Box::new(&mut window))
        }),
    )
    .map_err(|e| format!("the bench window could not be opened ({e}); {NO_DISPLAY}"))?;
    let events_per_sec = match window.result.take() {
        Some(Ok(rate)) => rate,
        Some(Err(e)) => return Err(e),
        None => return Err("the bench window closed before its frames were measured".into()),
    };
    let frames = window.samples.split_off(warmup.min(window.samples.len()));
    Ok(Painted {
        frames,
        renderer: renderer.unwrap_or_else(|| "unknown".into()),
        events_per_sec,
    })
}

/// The app in the bench window.
struct Window<'a> {
    app: &'a mut CrashcourseApp,
    handle: Handle,
    period: Duration,
    warmup: usize,
    wanted: usize,
    /// Wall time of every finished frame, warm-up included.
    samples: Vec<Duration>,
    /// When the current frame's update began.
    frame_start: Option<Instant>,
    /// Whether the current frame drew its panels (a hidden window runs no ui).
    painted: bool,
    started: Instant,
    /// Events recorded and messages sent when the warm-up ended, and when.
    events_before: Option<(u64, Instant)>,
    /// Events per second over the measured frames, or why the measurement failed.
    result: Option<Result<f64, String>>,
}

impl Window<'_> {
    fn events(&self) -> u64 {
        let m = self.handle.metrics();
        m.events_recorded + m.messages_total
    }

    fn finish(&mut self, ctx: &egui::Context, result: Result<f64, String>) {
        self.result = Some(result);
        ctx.send_viewport_cmd(egui::ViewportCommand::Close);
    }
}

impl eframe::App for &mut Window<'_> {
    /// Called once per frame before the egui pass: ends the previous frame's clock, waits for
    /// the next 60 Hz tick, and starts this frame's clock.
    fn raw_input_hook(&mut self, ctx: &egui::Context, _raw_input: &mut egui::RawInput) {
        if self.result.is_some() {
            return;
        }
        let now = Instant::now();
        if let Some(start) = self.frame_start {
            if !self.painted {
                return self.finish(
                    ctx,
                    Err("the bench window is hidden: nothing painted".into()),
                );
            }
            self.samples.push(now - start);
            if self.samples.len() == self.warmup {
                self.events_before = Some((self.events(), now));
            }
            if self.samples.len() >= self.warmup + self.wanted {
                let (before, since) = self.events_before.unwrap_or((0, self.started));
                let rate =
                    self.events().saturating_sub(before) as f64 / since.elapsed().as_secs_f64();
                return self.finish(ctx, Ok(rate));
            }
            if self.started.elapsed() > LIMIT {
                return self.finish(ctx, Err(format!("painting took over {LIMIT:?}")));
            }
            if let Some(rest) = self.period.checked_sub(now - start) {
                std::thread::sleep(rest);
            }
        }
        self.frame_start = Some(Instant::now());
        self.painted = false;
    }

    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        if self.result.is_none() {
            self.app.update_view_model();
            ctx.request_repaint();
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.app.draw(ui);
        self.painted = true;
    }

    fn persist_egui_memory(&self) -> bool {
        false
    }
}
