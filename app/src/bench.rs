//! `crashcourse bench gui`: what one frame of the app costs while the runtime is big and busy.
//!
//! The real app runs with 100,000 idle processes under a dynamic supervisor (10,000 for
//! `quick`) and a generator process causing about 5,000 runtime events a second in a steady mix:
//! temporary workers that start and end, workers that crash and are restarted, and messages.
//! Frames are paced at 60 Hz and measured twice, each with the supervision tree drawn as an
//! outline and then as a graph (figures prefixed `graph_`):
//!
//! - headless (`gui.frame_*`): egui driven without a window; the UI thread's CPU time over the
//!   app's whole update (ingest, the ECS schedule, layout, drawing into egui) and tessellation;
//! - painted (`gui.painted_frame_*`): the app in a real eframe window painted with glow (under
//!   Xvfb that is Mesa's software rasteriser, llvmpipe); the wall time of each whole frame,
//!   painting and buffer swap included. The goal, p99 under 16 ms, is on this figure.
//!
//! The painted half needs a display: without one the bench fails and says to run it under
//! `xvfb-run -a`.
//!
//! ```no_run
//! crashcourse_app::bench::run(true, |line| println!("{line}")).unwrap();
//! ```

mod headless;
mod painted;
mod workload;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::panels::tree::TreeMode;
use crate::{egui, AppConfig, CrashcourseApp};

pub use workload::EVENTS_PER_SEC;

/// Frames measured, headless and painted each.
pub const FRAMES: usize = 300;
/// Frames run before measuring, headless and painted each.
pub const WARMUP: usize = 60;
/// The frame period the bench paces at.
const FRAME: Duration = Duration::from_micros(16_667);
/// The tree panel's modes measured, each with the prefix of its figures.
const MODES: [(TreeMode, &str); 2] = [(TreeMode::Outline, ""), (TreeMode::Graph, "graph_")];
/// The window's size in points.
const SIZE: egui::Vec2 = egui::vec2(1400.0, 900.0);
/// How long setting up may take before the bench gives up.
const SETUP_LIMIT: Duration = Duration::from_secs(300);

/// Runs the benchmark and reports `bench gui.<figure> <value> <unit>` lines. Fails when there
/// is no display to paint on (see the module docs).
pub fn run(quick: bool, mut report: impl FnMut(String)) -> Result<(), String> {
    if !painted::display_available() {
        return Err(painted::NO_DISPLAY.into());
    }
    let processes = if quick { 10_000 } else { 100_000 };
    let dir = tempfile::tempdir().map_err(|e| format!("no temporary directory: {e}"))?;
    let mut app = CrashcourseApp::new(AppConfig::isolated(&dir.path().join("chat.db")));
    let handle = app.handle();
    let mut headless = headless::Headless::new(SIZE);

    let setup = Instant::now();
    let (ready_tx, ready_rx) = mpsc::channel();
    workload::start(&handle, processes, ready_tx)?;
    // Keep drawing while the runtime fills, as the real window would.
    loop {
        headless.frame(&mut app);
        match ready_rx.try_recv() {
            Ok(result) => {
                result?;
                break;
            }
            Err(mpsc::TryRecvError::Empty) => {}
            Err(mpsc::TryRecvError::Disconnected) => {
                return Err("the workload generator stopped before it was ready".into())
            }
        }
        if setup.elapsed() > SETUP_LIMIT {
            return Err(format!(
                "setting up {processes} processes took over {SETUP_LIMIT:?}"
            ));
        }
        std::thread::sleep(FRAME);
    }
    // Until the view model holds them all and has settled.
    let deadline = Instant::now() + SETUP_LIMIT;
    while view_count(&app) < processes {
        if Instant::now() > deadline {
            return Err("the view model never caught up with the runtime".into());
        }
        headless.frame(&mut app);
        std::thread::sleep(FRAME);
    }
    report(format!(
        "# crashcourse gui: {} processes in the view, {} ms setup",
        view_count(&app),
        setup.elapsed().as_millis()
    ));

    let figure = |name: &str, value: f64, unit: &str| format!("bench gui.{name} {value:.3} {unit}");
    // The tree panel drawn as an outline (figures without a prefix, as before), then as a graph
    // (`graph_`): everything else in the frame is the same.
    for (mode, prefix) in MODES {
        app.set_tree_mode(mode);
        for _ in 0..WARMUP {
            paced(&mut headless, &mut app);
        }
        let before = handle.metrics();
        let started = Instant::now();
        let mut cpu = Vec::with_capacity(FRAMES);
        let (mut model, mut draw) = (Vec::with_capacity(FRAMES), Vec::with_capacity(FRAMES));
        for _ in 0..FRAMES {
            cpu.push(ms(paced(&mut headless, &mut app)));
            let costs = app.frame_costs();
            model.push(ms(costs.view_model));
            draw.push(ms(costs.draw));
        }
        let elapsed = started.elapsed().as_secs_f64();
        let after = handle.metrics();
        let events = (after.events_recorded - before.events_recorded)
            + (after.messages_total - before.messages_total);
        report(figure(&format!("{prefix}frame_mean"), mean(&cpu), "ms"));
        report(figure(&format!("{prefix}frame_p99"), p99(&mut cpu), "ms"));
        report(figure(
            &format!("{prefix}frame_max"),
            cpu[cpu.len() - 1],
            "ms",
        ));
        // Wall time of the two parts the app itself does (the rest is egui and tessellation),
        // to see where a slow frame went.
        report(figure(
            &format!("{prefix}view_model_p99"),
            p99(&mut model),
            "ms",
        ));
        report(figure(&format!("{prefix}draw_p99"), p99(&mut draw), "ms"));
        report(figure(
            &format!("{prefix}events_per_sec"),
            events as f64 / elapsed,
            "/s",
        ));
    }
    if let Some(nodes) = graph_nodes(&app) {
        report(format!(
            "# graph view: {nodes} nodes placed for {} processes",
            view_count(&app)
        ));
    }

    let modes: Vec<TreeMode> = MODES.iter().map(|(m, _)| *m).collect();
    let painted = painted::measure(&mut app, SIZE, FRAME, (WARMUP, FRAMES), &modes, dir.path())?;
    report(format!(
        "# painted: {} frames per tree mode in a {}x{} glow window, renderer {}",
        FRAMES, SIZE.x, SIZE.y, painted.renderer
    ));
    for ((_, prefix), (frames, rate)) in MODES
        .iter()
        .zip(painted.frames.iter().zip(&painted.events_per_sec))
    {
        let mut wall: Vec<f64> = frames.iter().map(|d| ms(*d)).collect();
        if wall.is_empty() {
            return Err("no painted frame was measured".into());
        }
        report(figure(
            &format!("{prefix}painted_frame_mean"),
            mean(&wall),
            "ms",
        ));
        report(figure(
            &format!("{prefix}painted_frame_p99"),
            p99(&mut wall),
            "ms",
        ));
        report(figure(
            &format!("{prefix}painted_frame_max"),
            wall[wall.len() - 1],
            "ms",
        ));
        report(figure(
            &format!("{prefix}painted_events_per_sec"),
            *rate,
            "/s",
        ));
    }
    report(figure("processes", handle.process_count() as f64, "count"));
    drop(app);
    Ok(())
}

/// One headless frame, then a sleep to the next 60 Hz tick; returns the frame's CPU time.
fn paced(headless: &mut headless::Headless, app: &mut CrashcourseApp) -> Duration {
    let start = Instant::now();
    let cpu = headless.frame(app);
    if let Some(rest) = FRAME.checked_sub(start.elapsed()) {
        std::thread::sleep(rest);
    }
    cpu
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

/// Sorts `values` and returns their 99th percentile.
fn p99(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[((values.len() as f64 * 0.99).ceil() as usize).clamp(1, values.len()) - 1]
}

/// Nodes the graph view placed (what it draws at most), if it has placed any.
fn graph_nodes(app: &CrashcourseApp) -> Option<usize> {
    app.world()
        .get_resource::<crate::state::tree_graph::TreeGraph>()
        .map(|g| g.nodes.len())
        .filter(|&n| n > 0)
}

fn view_count(app: &CrashcourseApp) -> usize {
    app.world()
        .resource::<crate::state::components::RuntimeStats>()
        .process_count
}
