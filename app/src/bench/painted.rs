//! Whole painted frames: the app in a real eframe window (glow), paced at 60 Hz, each frame
//! timed by the wall clock from the start of its update to the start of the next one, so the
//! time covers the view model, the panels, tessellation, painting, the buffer swap and the
//! event loop.

use std::path::Path;
use std::time::{Duration, Instant};

use crashcourse_runtime::Handle;
use eframe::glow::HasContext as _;

use crate::panels::tree::TreeMode;
use crate::{egui, CrashcourseApp};

/// What the window measured, one entry per tree mode measured.
pub struct Painted {
    /// Wall time of each measured frame, per mode.
    pub frames: Vec<Vec<Duration>>,
    /// The GL renderer that painted (e.g. `llvmpipe` for Mesa's software rasteriser).
    pub renderer: String,
    /// Runtime events and messages per second while the measured frames ran, per mode.
    pub events_per_sec: Vec<f64>,
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

/// Opens a `size` window over `app`, paces frames at one per `period`, and for each of
/// `modes` in turn (the tree drawn that way) lets `warmup` frames pass and measures `frames`
/// frames; then closes the window (one window for all: a process opens one event loop only).
/// `storage` holds what eframe persists (nothing of the user's).
pub fn measure(
    app: &mut CrashcourseApp,
    size: egui::Vec2,
    period: Duration,
    (warmup, frames): (usize, usize),
    modes: &[TreeMode],
    storage: &Path,
) -> Result<Painted, String> {
    let Some(&first) = modes.first() else {
        return Err("no tree mode to paint".into());
    };
    app.set_tree_mode(first);
    let handle = app.handle();
    let mut window = Window {
        app,
        handle,
        period,
        warmup,
        wanted: frames,
        modes: modes.to_vec(),
        samples: Vec::with_capacity(modes.len() * (warmup + frames)),
        frame_start: None,
        painted: false,
        started: Instant::now(),
        events_before: None,
        rates: Vec::with_capacity(modes.len()),
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
    match window.result.take() {
        Some(Ok(())) => {}
        Some(Err(e)) => return Err(e),
        None => return Err("the bench window closed before its frames were measured".into()),
    };
    let events_per_sec = std::mem::take(&mut window.rates);
    let frames = window
        .samples
        .chunks(warmup + frames)
        .map(|phase| phase[warmup.min(phase.len())..].to_vec())
        .collect();
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
    /// The tree modes measured, one after the other.
    modes: Vec<TreeMode>,
    /// Wall time of every finished frame, warm-ups included.
    samples: Vec<Duration>,
    /// When the current frame's update began.
    frame_start: Option<Instant>,
    /// Whether the current frame drew its panels (a hidden window runs no ui).
    painted: bool,
    started: Instant,
    /// Events recorded and messages sent when the current mode's warm-up ended, and when.
    events_before: Option<(u64, Instant)>,
    /// Events per second over each mode's measured frames.
    rates: Vec<f64>,
    /// Set when done: Ok, or why the measurement failed.
    result: Option<Result<(), String>>,
}

impl Window<'_> {
    fn events(&self) -> u64 {
        let m = self.handle.metrics();
        m.events_recorded + m.messages_total
    }

    fn finish(&mut self, ctx: &egui::Context, result: Result<(), String>) {
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
            let phase_len = self.warmup + self.wanted;
            let in_phase = (self.samples.len() - 1) % phase_len + 1;
            if in_phase == self.warmup {
                self.events_before = Some((self.events(), now));
            }
            if in_phase == phase_len {
                let (before, since) = self.events_before.unwrap_or((0, self.started));
                let rate =
                    self.events().saturating_sub(before) as f64 / since.elapsed().as_secs_f64();
                self.rates.push(rate);
                match self.modes.get(self.rates.len()) {
                    Some(&next) => self.app.set_tree_mode(next),
                    None => return self.finish(ctx, Ok(())),
                }
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
