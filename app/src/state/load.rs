//! The load generator as the app runs it: the settings a run starts from, the run going on (on
//! the generator's own threads, never the UI's), its live counts, the summary of the last one,
//! and its traffic over time for the dashboard.

use std::time::{Duration, Instant};

use bevy_ecs::prelude::*;
use crashcourse_load::{Live, Model, Plan, Running, Summary, Target};

use super::chat::ChatServer;
use super::components::FrameClock;
use super::history::{Histories, Series};
use super::ingest::Observations;

/// What a load run from the app does (the command line's options, in the app's words).
#[derive(Clone, Debug, PartialEq)]
pub struct LoadSettings {
    /// Virtual users: one WebSocket (one socket process on the server) each.
    pub clients: usize,
    /// Users started per second.
    pub ramp_per_s: f64,
    /// Closed model: messages per user per second at most, each after the previous reply.
    pub rate_per_s: f64,
    /// Open model (`Some`): messages per second across all users, on schedule whatever the
    /// server does.
    pub arrival_rate: Option<f64>,
    /// From the first connection to the last send.
    pub duration: Duration,
    /// The room joined (topic `room:<room>`).
    pub room: String,
    /// Send the "slow" event (answered after this many ms by a process of its own) instead of
    /// posting chat messages.
    pub slow_ms: Option<u64>,
}

impl Default for LoadSettings {
    fn default() -> Self {
        LoadSettings {
            clients: 100,
            ramp_per_s: 50.0,
            rate_per_s: 1.0,
            arrival_rate: None,
            duration: Duration::from_secs(30),
            room: "load".to_string(),
            slow_ms: None,
        }
    }
}

impl LoadSettings {
    /// The generator's plan for these settings against the WebSocket at `ws_url`; refused
    /// with the generator's own explanation when it cannot run.
    pub fn plan(&self, ws_url: &str) -> Result<Plan, String> {
        let target = Target::parse(ws_url).map_err(|e| e.to_string())?;
        let mut plan = Plan::new(target);
        plan.clients = self.clients;
        plan.ramp = self.ramp_per_s;
        plan.duration = self.duration;
        plan.room = self.room.trim().to_string();
        plan.model = match self.arrival_rate {
            Some(arrival_rate) => Model::Open { arrival_rate },
            None => Model::Closed {
                rate: Some(self.rate_per_s),
            },
        };
        plan.slow_ms = self.slow_ms;
        // The app's runtime needs the cores more than a handful of users need threads.
        plan.workers = 2;
        plan.validate().map_err(|e| e.to_string())?;
        Ok(plan)
    }
}

/// The app's load run: the one going on (if any), its counts, and the last summary.
#[derive(Resource, Default)]
pub struct LoadRun {
    running: Option<Running>,
    /// When the current run started, and with what.
    pub settings: Option<LoadSettings>,
    pub started: Option<Instant>,
    /// The newest counts of the current run (or of the last one, once it ended).
    pub live: Option<Live>,
    /// Acknowledged messages per second, over the last second or so.
    pub acked_per_s: f64,
    /// The k6-like summary of the last run that ended.
    pub last: Option<Summary>,
    /// Stop was asked for: the run drains its replies and ends.
    pub stopping: bool,
    /// The dashboard's lines: acknowledged/s, and sockets open.
    pub acked_history: Series,
    pub open_history: Series,
    /// The last count taken for the rate: when, and how many acknowledged then.
    previous: Option<(Instant, u64)>,
    /// A start asked for while a run was still going or stopping: it starts once that run
    /// has ended (its sockets closed), so a stop followed at once by a start is never lost.
    queued: Option<(LoadSettings, String)>,
    /// Why a queued start could not start when its turn came.
    pub last_error: Option<String>,
}

impl LoadRun {
    /// True while a run goes on (draining included).
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// Starts a run of `settings` against the chat server at `ws_url`. While another run
    /// goes on, that run is stopped and this one waits for it to end (see [`Self::queued`]);
    /// settings the generator refuses are refused at once, queued or not.
    pub fn start(&mut self, settings: LoadSettings, ws_url: &str) -> Result<(), String> {
        settings.plan(ws_url)?;
        if self.running.is_some() {
            self.stop();
            self.queued = Some((settings, ws_url.to_string()));
            return Ok(());
        }
        self.start_now(settings, ws_url)
    }

    /// The settings of a run waiting for the current one to end, if any.
    pub fn queued(&self) -> Option<&LoadSettings> {
        self.queued.as_ref().map(|(settings, _)| settings)
    }

    fn start_now(&mut self, settings: LoadSettings, ws_url: &str) -> Result<(), String> {
        let plan = settings.plan(ws_url)?;
        let running = crashcourse_load::start(plan).map_err(|e| e.to_string())?;
        self.running = Some(running);
        self.settings = Some(settings);
        self.started = Some(Instant::now());
        self.live = Some(Live::default());
        self.acked_per_s = 0.0;
        self.stopping = false;
        self.previous = None;
        self.last_error = None;
        Ok(())
    }

    /// Ends the sending now; replies in flight are still waited for (the generator's drain).
    /// A start waiting for the run to end is dropped too.
    pub fn stop(&mut self) {
        self.queued = None;
        if let Some(running) = &mut self.running {
            running.stop();
            self.stopping = true;
        }
    }

    /// Reads the live counts and, once the run has ended, its summary. Never waits.
    pub fn follow(&mut self, now: Instant) {
        let Some(running) = &self.running else {
            return;
        };
        let live = running.live();
        if let Some((at, acked)) = self.previous {
            let dt = now.saturating_duration_since(at).as_secs_f64();
            if dt >= 1.0 {
                self.acked_per_s = live.acknowledged.saturating_sub(acked) as f64 / dt;
                self.previous = Some((now, live.acknowledged));
            }
        } else {
            self.previous = Some((now, live.acknowledged));
        }
        self.live = Some(live);
        if running.is_finished() {
            if let Some(running) = self.running.take() {
                // The run's thread has ended: this join returns at once.
                self.last = Some(running.wait());
            }
            self.stopping = false;
            self.acked_per_s = 0.0;
            if let Some((settings, url)) = self.queued.take() {
                // Checked when it was queued; the server may have gone since.
                if let Err(e) = self.start_now(settings, &url) {
                    self.last_error = Some(e);
                }
            }
        }
    }

    /// Stops the run and waits at most `limit` for it to end; what it had not finished by
    /// then ends on its own threads.
    pub fn shutdown(&mut self, limit: Duration) {
        self.stop();
        if let Some(running) = self.running.take() {
            self.last = finish_within(running, limit).or(self.last.take());
        }
    }
}

/// Waits for `running` to end on a thread of its own, at most `limit`.
fn finish_within(running: Running, limit: Duration) -> Option<Summary> {
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("load finish".into())
        .spawn(move || {
            let _ = tx.send(running.wait());
        });
    match spawned {
        Ok(_) => rx.recv_timeout(limit).ok(),
        Err(_) => None,
    }
}

/// The chat server's WebSocket URL, while it runs.
pub fn chat_ws_url(world: &World) -> Option<String> {
    world
        .resource::<ChatServer>()
        .ws_addr
        .map(|addr| format!("ws://{addr}/socket/websocket"))
}

/// Reads the run's live counts every frame (atomic loads) and takes its summary at the end.
pub fn follow_load_run(mut run: ResMut<LoadRun>, clock: Res<FrameClock>) {
    if run.is_running() {
        run.follow(clock.now);
    }
}

/// Adds the load's traffic to the dashboard's histories, one point per metrics sample.
pub fn record_load_history(
    mut run: ResMut<LoadRun>,
    observations: Res<Observations>,
    histories: Res<Histories>,
) {
    let Some(sample) = observations.samples.last() else {
        return;
    };
    let t = histories.time_of(sample.at);
    let (acked, open) = match (&run.running, run.live) {
        (Some(_), Some(live)) => (run.acked_per_s, live.open as f64),
        _ => (0.0, 0.0),
    };
    run.acked_history.push(t, acked);
    run.open_history.push(t, open);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Follows `run` every 10 ms until `done` holds, at most `limit`.
    fn follow_until(
        run: &mut LoadRun,
        limit: Duration,
        what: &str,
        done: impl Fn(&LoadRun) -> bool,
    ) {
        let deadline = Instant::now() + limit;
        while !done(run) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            run.follow(Instant::now());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn a_start_right_after_a_stop_waits_for_the_old_run_and_then_runs() {
        use crashcourse_runtime::chat::{ChatConfig, Endpoint};
        use crashcourse_runtime::{Runtime, RuntimeConfig};
        let dir = tempfile::tempdir().expect("a temporary directory");
        let rt = Runtime::start(RuntimeConfig::default());
        let config = ChatConfig::new(dir.path().join("chat.db")).any_ports();
        let endpoint = Endpoint::start(&rt, config).expect("the chat server starts");
        let url = format!("ws://{}/socket/websocket", endpoint.ws_addr());
        let users = |clients, room: &str| LoadSettings {
            clients,
            ramp_per_s: 100.0,
            duration: Duration::from_secs(60),
            room: room.to_string(),
            ..LoadSettings::default()
        };
        let mut run = LoadRun::default();
        run.start(users(5, "first"), &url)
            .expect("the first run starts");
        follow_until(&mut run, Duration::from_secs(20), "5 users", |r| {
            r.live.is_some_and(|l| l.open >= 5)
        });
        // Stop, then start at once: the old run is still draining in the background.
        run.stop();
        let second = users(3, "second");
        run.start(second.clone(), &url)
            .expect("a start while the old run stops is queued, not refused");
        assert_eq!(run.queued(), Some(&second));
        assert!(run.is_running(), "the old run has not ended yet");
        follow_until(&mut run, Duration::from_secs(30), "the second run", |r| {
            r.settings.as_ref() == Some(&second) && r.live.is_some_and(|l| l.open >= 3)
        });
        assert!(run.queued().is_none());
        assert!(run.last.is_some(), "the first run's summary was kept");
        // A start during a run that was not stopped stops it too, and a stop drops a queued
        // start.
        run.start(users(2, "third"), &url).expect("queued");
        assert!(run.stopping && run.queued().is_some());
        run.stop();
        assert!(run.queued().is_none());
        run.shutdown(Duration::from_secs(10));
        endpoint.shutdown(Duration::from_secs(10));
    }

    #[test]
    fn settings_become_the_generators_plan_and_bad_ones_are_refused_with_its_words() {
        let url = "ws://127.0.0.1:4001/socket/websocket";
        let mut settings = LoadSettings {
            clients: 20,
            room: " trouble ".into(),
            slow_ms: Some(100),
            ..LoadSettings::default()
        };
        let plan = settings.plan(url).expect("a plan");
        assert_eq!(plan.clients, 20);
        assert_eq!(plan.room, "trouble");
        assert_eq!(plan.slow_ms, Some(100));
        assert_eq!(plan.model, Model::Closed { rate: Some(1.0) });
        settings.arrival_rate = Some(250.0);
        let plan = settings.plan(url).expect("a plan");
        assert_eq!(
            plan.model,
            Model::Open {
                arrival_rate: 250.0
            }
        );
        settings.clients = 0;
        let refused = settings.plan(url).expect_err("no clients");
        assert!(refused.contains("--clients"), "{refused}");
        settings.clients = 20;
        settings.slow_ms = Some(60_000);
        assert!(
            settings.plan(url).is_err(),
            "a slow request over the server's limit"
        );
    }
}
