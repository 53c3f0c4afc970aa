//! Image snapshots of deterministic, scripted states: panels drawn from a view model filled by
//! hand (`crashcourse_app::state::scripted`: fixed pids, a stopped clock, flashes and warnings
//! of a fixed age), never from a live runtime, so every run draws the same pixels.
//!
//! They render with wgpu, so they build only with the `snapshots` feature, which neither the
//! default build nor CI enables. Without a GPU, wgpu takes Mesa's software rasteriser: llvmpipe
//! through EGL and GL (Debian: `apt-get install -y libegl1 libegl-mesa0 libgl1-mesa-dri`) or
//! lavapipe through Vulkan (`mesa-vulkan-drivers`). With neither, the tests fail saying so.
//!
//! Run them (from the workspace root):
//!
//! ```text
//! cargo test -p crashcourse-app --features snapshots --test snapshots
//! ```
//!
//! After a change that is meant to alter what a panel draws, write the images again and look at
//! each one before committing it:
//!
//! ```text
//! UPDATE_SNAPSHOTS=1 cargo test -p crashcourse-app --features snapshots --test snapshots
//! ```
//!
//! The images are `app/tests/snapshots/<name>.png`. A failing run leaves `<name>.new.png` (what
//! it drew) and `<name>.diff.png` beside them; git ignores those. The committed ones were drawn
//! by Mesa 22.3's llvmpipe through GL on Debian 12 (the test prints the adapter it uses); another
//! rasteriser (lavapipe, which egui_kittest prefers when it is installed, or a GPU) may antialias
//! text a little differently, beyond egui_kittest's tolerance: then compare the `.new.png` with
//! the committed image by eye rather than committing it.

#![cfg(feature = "snapshots")]

use std::time::{Duration, Instant};

use bevy_ecs::world::World;
use crashcourse_app::egui;
use crashcourse_app::panels::{StoppedBanner, SupervisionTree, View, WarningsPanel};
use crashcourse_app::state::animation::FlashKind;
use crashcourse_app::state::components::{StopReport, TopSupervisor, TopSupervisors};
use crashcourse_app::state::scripted;
use crashcourse_app::state::warnings::{Warning, WarningKind, Warnings};
use crashcourse_app::Subsystem;
use crashcourse_runtime::{ExitReason, Kind, Pid, SupervisorUse};
use eframe::egui_wgpu::RendererOptions;
use egui_kittest::kittest::Queryable;
use egui_kittest::wgpu::{create_render_state, default_wgpu_setup, WgpuTestRenderer};
use egui_kittest::Harness;

/// A wgpu renderer on the preferred (software, where there is one) adapter, or a failure that
/// says what is missing.
fn renderer() -> WgpuTestRenderer {
    let state = std::panic::catch_unwind(|| {
        create_render_state(default_wgpu_setup(), RendererOptions::PREDICTABLE)
    })
    .unwrap_or_else(|cause| {
        let cause = cause
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| cause.downcast_ref::<&str>().copied())
            .unwrap_or("unknown");
        panic!(
            "no wgpu adapter to render the snapshots with ({cause}). Without a GPU, install \
             Mesa's software drivers: `apt-get install -y libegl1 libegl-mesa0 \
             libgl1-mesa-dri` (llvmpipe through GL) or `mesa-vulkan-drivers` (lavapipe through \
             Vulkan); WGPU_BACKEND, if set, limits the backends tried"
        )
    });
    let info = state.adapter.get_info();
    eprintln!(
        "snapshots render on {} ({:?}, {:?}, {})",
        info.name, info.backend, info.device_type, info.driver_info
    );
    WgpuTestRenderer::from_render_state(state)
}

/// A harness of `size` points that draws `panel` from `world` filling the window, as the app
/// lays its panels out.
fn harness<P: View + 'static>(
    size: egui::Vec2,
    world: World,
    panel: P,
    frame: fn(&egui::Style) -> egui::Frame,
) -> Harness<'static, (World, P)> {
    Harness::builder()
        .with_size(size)
        .with_theme(egui::Theme::Dark)
        .renderer(renderer())
        .build_ui_state(
            move |ui, (world, panel): &mut (World, P)| {
                let mut commands = Vec::new();
                egui::CentralPanel::default()
                    .frame(frame(ui.style()))
                    .show(ui, |ui| panel.ui(ui, world, &mut commands));
                assert!(commands.is_empty(), "nothing was clicked: {commands:?}");
            },
            (world, panel),
        )
}

fn central_frame(style: &egui::Style) -> egui::Frame {
    egui::Frame::central_panel(style)
}

fn side_frame(style: &egui::Style) -> egui::Frame {
    egui::Frame::side_top_panel(style)
}

fn shows(harness: &Harness<'_, impl Sized>, label: &str) -> bool {
    harness.query_all_by_label(label).next().is_some()
}

/// A supervisor using one of its three restarts in 5 s over three workers and a dynamic
/// supervisor; the second worker was restarted once a quarter of a second ago (its pulse is
/// three quarters strong), and the sixty sessions fold into "+60 children".
#[test]
fn supervision_tree_with_a_restarted_worker_and_a_folded_group() {
    let now = Instant::now();
    let mut world = scripted::world(now);
    let load = |restarts_in_period, children| SupervisorUse {
        restarts_in_period,
        max_restarts: 3,
        period: Duration::from_secs(5),
        children,
    };
    let mut rows = vec![
        scripted::row(1, None, Kind::Supervisor, "demo"),
        scripted::row(2, Some(1), Kind::Worker, "worker 1"),
        scripted::row(3, Some(1), Kind::Worker, "worker 2"),
        scripted::row(4, Some(1), Kind::Worker, "worker 3"),
        scripted::row(5, Some(1), Kind::DynamicSupervisor, "sessions"),
    ];
    rows[0].supervisor = Some(load(1, 4));
    rows[2].restarts = 1;
    rows[4].supervisor = Some(load(0, 60));
    rows.extend((0..60).map(|i| scripted::row(100 + i, Some(5), Kind::Worker, "session")));
    scripted::add_processes(&mut world, rows);
    scripted::flash(
        &mut world,
        3,
        FlashKind::Restart,
        Duration::from_millis(250),
    );

    let mut harness = harness(
        egui::vec2(360.0, 260.0),
        world,
        SupervisionTree::default(),
        side_frame,
    );
    for label in [
        "demo",
        "1 of 3 in 5s",
        "worker 1",
        "worker 2",
        "↻1",
        "worker 3",
        "sessions",
        "+60 children",
    ] {
        assert!(shows(&harness, label), "the tree shows {label:?}");
    }
    harness.snapshot("supervision_tree");
}

/// The demo's top supervisor went over its restart intensity and stopped: the banner says what
/// stopped, why and what it means, and offers to start it again.
#[test]
fn stopped_banner_after_the_demo_went_over_its_intensity() {
    let mut world = scripted::world(Instant::now());
    world
        .resource_mut::<TopSupervisors>()
        .0
        .push(TopSupervisor {
            subsystem: Subsystem::Demo,
            pid: Some(Pid::from_id(7)),
            label: "demo".into(),
            stopped: Some(StopReport {
                pid: Some(Pid::from_id(7)),
                label: "demo".into(),
                reason: Some(ExitReason::Shutdown),
                why: Some(
                    "went over its restart intensity: 4 restarts in 5s (at most 3 allowed)".into(),
                ),
            }),
            over_intensity: None,
        });
    assert!(StoppedBanner::is_shown(&world));

    let mut harness = harness(
        egui::vec2(600.0, 80.0),
        world,
        StoppedBanner,
        StoppedBanner::frame,
    );
    assert!(shows(
        &harness,
        "The demo's top supervisor \"demo\" <0.7.0> stopped (reason: shutdown)."
    ));
    assert!(shows(&harness, "Start again"));
    harness.snapshot("stopped_banner");
}

/// One active warning: a mailbox growing for 42 s, with its explanation open.
#[test]
fn warnings_with_one_growing_mailbox() {
    let now = Instant::now();
    let mut world = scripted::world(now);
    scripted::add_processes(
        &mut world,
        [scripted::row(42, None, Kind::Server, "slow consumer")],
    );
    world.resource_mut::<Warnings>().push(Warning {
        kind: WarningKind::MailboxGrowing,
        pid: Some(Pid::from_id(42)),
        subject: Some("slow consumer".into()),
        detail: "from 120 to 480 messages waiting over the last 4 samples".into(),
        since: now - Duration::from_secs(42),
        last_seen: now,
        resolved: None,
    });

    let mut harness = harness(
        egui::vec2(600.0, 240.0),
        world,
        WarningsPanel,
        central_frame,
    );
    for label in [
        "⚠ A mailbox is growing",
        "1 active",
        "slow consumer <0.42.0>",
        "for 42s",
        "What it means and what to check",
    ] {
        assert!(shows(&harness, label), "the warnings show {label:?}");
    }
    harness.snapshot("warnings");
}
