//! The thread-pool contrast as the app runs it: the same slow work served behind the HTTP
//! server's fixed handler threads and as one process per request over the WebSocket, under the
//! same load at once, with each side's throughput live and both summaries at the end.

use std::time::{Duration, Instant};

use bevy_ecs::prelude::*;
use crashcourse_load::contrast::{self, ContrastPlan, ContrastResult, RunningContrast};
use crashcourse_load::Live;

use super::chat::ChatServer;
use super::components::FrameClock;
use super::load::chat_ws_url;

/// What a contrast from the app asks for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ContrastSettings {
    /// Users on each side.
    pub users: usize,
    /// The work of one request (a sleep standing for a database call), in ms.
    pub work_ms: u64,
    pub duration: Duration,
}

impl Default for ContrastSettings {
    /// Lesson 6's: 1,000 users, 100 ms of work, 10 s.
    fn default() -> Self {
        ContrastSettings {
            users: 1000,
            work_ms: 100,
            duration: Duration::from_secs(10),
        }
    }
}

/// One side's live figures.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SideLive {
    pub live: Live,
    /// Replies per second over the last second or so.
    pub per_s: f64,
    previous: Option<(Instant, u64)>,
}

impl SideLive {
    fn update(&mut self, live: Live, now: Instant) {
        match self.previous {
            Some((at, n)) => {
                let dt = now.saturating_duration_since(at).as_secs_f64();
                if dt >= 1.0 {
                    self.per_s = live.acknowledged.saturating_sub(n) as f64 / dt;
                    self.previous = Some((now, live.acknowledged));
                }
            }
            None => self.previous = Some((now, live.acknowledged)),
        }
        self.live = live;
    }

    /// Requests sent and not answered yet: those waiting, in a queue or on a timer.
    pub fn in_flight(&self) -> u64 {
        self.live
            .sent
            .saturating_sub(self.live.acknowledged + self.live.errors)
    }
}

/// The app's contrast run.
#[derive(Resource, Default)]
pub struct ContrastRun {
    running: Option<RunningContrast>,
    /// What the current (or last) run asked for.
    pub settings: Option<ContrastSettings>,
    /// Live figures: the thread pool's side and the processes' side.
    pub thread_pool: SideLive,
    pub processes: SideLive,
    /// Both summaries of the last run that ended.
    pub result: Option<ContrastResult>,
    pub stopping: bool,
}

impl ContrastRun {
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// Starts both sides against the chat server's HTTP and WebSocket ports.
    pub fn start(
        &mut self,
        settings: ContrastSettings,
        world_urls: (String, String),
    ) -> Result<(), String> {
        if self.running.is_some() {
            return Err("a contrast is running already: stop it first".to_string());
        }
        let (http_url, ws_url) = world_urls;
        let plan = ContrastPlan {
            http_url,
            ws_url,
            users: settings.users,
            work_ms: settings.work_ms,
            duration: settings.duration,
        };
        let running = contrast::start(plan).map_err(|e| e.to_string())?;
        self.running = Some(running);
        self.settings = Some(settings);
        self.thread_pool = SideLive::default();
        self.processes = SideLive::default();
        self.stopping = false;
        Ok(())
    }

    /// Ends the sending on both sides; replies in flight are still waited for.
    pub fn stop(&mut self) {
        if let Some(running) = &self.running {
            running.stop();
            self.stopping = true;
        }
    }

    /// Reads both sides' counts and, once both have ended, their summaries. Never waits.
    pub fn follow(&mut self, now: Instant) {
        let Some(running) = &self.running else {
            return;
        };
        let (tp, pr) = running.live();
        self.thread_pool.update(tp, now);
        self.processes.update(pr, now);
        if running.is_finished() {
            if let Some(running) = self.running.take() {
                // Both runs' threads have ended: these joins return at once.
                self.result = Some(running.wait());
            }
            self.stopping = false;
        }
    }

    /// Stops both sides and waits at most `limit` for them to end.
    pub fn shutdown(&mut self, limit: Duration) {
        self.stop();
        if let Some(running) = self.running.take() {
            let (tx, rx) = std::sync::mpsc::channel();
            let spawned = std::thread::Builder::new()
                .name("contrast finish".into())
                .spawn(move || {
                    let _ = tx.send(running.wait());
                });
            if spawned.is_ok() {
                if let Ok(result) = rx.recv_timeout(limit) {
                    self.result = Some(result);
                }
            }
        }
    }
}

/// The chat server's HTTP and WebSocket URLs, while it runs.
pub fn contrast_urls(world: &World) -> Option<(String, String)> {
    let http = world.resource::<ChatServer>().http_url.clone()?;
    Some((http, chat_ws_url(world)?))
}

/// Reads the contrast's live counts every frame while it runs.
pub fn follow_contrast_run(mut run: ResMut<ContrastRun>, clock: Res<FrameClock>) {
    if run.is_running() {
        run.follow(clock.now);
    }
}
