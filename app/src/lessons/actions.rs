//! What a lesson's buttons do to the runtime, and how the lesson undoes it: the processes it
//! spawned live under a supervisor process labelled `lesson`, the band under a supervisor named
//! `band`; leaving or resetting a lesson stops both.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bevy_ecs::world::World;
use crashcourse_runtime::db::Pool;
use crashcourse_runtime::supervisor::{self, ChildSpec, Intensity, Strategy, SupervisorSpec};
use crashcourse_runtime::{ChaosPlan, Ctx, ExitReason, FaultKind, Handle, Kind, Pid, SpawnOpts};

use super::model::{BandStrategy, Op, SignalReason, Target};
use crate::state::chat::ChatServer;
use crate::state::commands::Command;
use crate::state::components::{Identity, ProcessId, ProcessStatus};
use crate::state::load::LoadSettings;

/// The registered name and label of the supervisor over the lesson's idle processes.
pub const LESSON_SUPERVISOR: &str = "lesson";
/// The registered name and label of the band's supervisor.
pub const BAND: &str = "band";
/// The band's members, in start order.
pub const BAND_MEMBERS: [&str; 3] = ["singer", "guitarist", "drummer"];

/// What the lesson's own spawn measured, shared with the spawner process.
#[derive(Debug, Default)]
pub struct SpawnFigures {
    /// Children started and not yet stopped by the lesson.
    pub spawned: AtomicUsize,
    /// Mean bytes per idle child, 0 until measured.
    pub per_idle: AtomicUsize,
    /// Bumped by every stop, so a spawner still at work gives up.
    generation: AtomicU64,
    /// The children, so a stop can end them before their supervisor.
    children: Mutex<Vec<Pid>>,
}

/// What the current lesson started and must stop.
#[derive(Default)]
pub struct Owned {
    pub lesson_sup: Option<Pid>,
    pub band: Option<Pid>,
    pub figures: Arc<SpawnFigures>,
    /// The lesson switched a fault, ran chaos, load or the contrast: undo on leaving.
    faults: bool,
    chaos: bool,
    load: bool,
    contrast: bool,
    /// The pool's settings before the lesson changed them: size, queue target and interval.
    pool_before: Option<(usize, Duration, Duration)>,
}

/// Why an action did nothing, for the learner.
pub type ActionError = String;

/// What the app should do besides the runtime calls made here.
pub enum Effect {
    None,
    /// A command for the app (open a URL, switch a fault, start users...).
    Command(Command),
}

/// Performs `op`. Actions that need parts this build lacks say so.
pub fn perform(op: &Op, world: &World, owned: &mut Owned) -> Result<Effect, ActionError> {
    let handle = world
        .get_resource::<crate::state::link::RuntimeLink>()
        .map(|l| l.handle.clone())
        .ok_or("no runtime")?;
    match op {
        Op::SpawnIdle { count } => {
            spawn_idle(&handle, owned, *count)?;
            Ok(Effect::None)
        }
        Op::StopSpawned => {
            stop_all(&handle, owned);
            Ok(Effect::None)
        }
        Op::OpenChat { room } => {
            let url = world
                .get_resource::<ChatServer>()
                .and_then(|c| c.http_url.clone())
                .ok_or("the chat server is not running")?;
            Ok(Effect::Command(Command::OpenUrl(format!(
                "{url}/?room={room}"
            ))))
        }
        Op::Kill(target) => {
            let pid = find(world, &handle, target)?;
            handle.kill(pid).map_err(|e| e.to_string())?;
            Ok(Effect::None)
        }
        Op::Crash(target) => {
            let pid = find(world, &handle, target)?;
            handle.crash(pid).map_err(|e| e.to_string())?;
            Ok(Effect::None)
        }
        Op::Exit { target, reason } => {
            let pid = find(world, &handle, target)?;
            let reason = match reason {
                SignalReason::Normal => ExitReason::Normal,
                SignalReason::Shutdown => ExitReason::Shutdown,
                SignalReason::Kill => ExitReason::Kill,
            };
            handle.exit(pid, reason).map_err(|e| e.to_string())?;
            Ok(Effect::None)
        }
        Op::StartBand {
            strategy,
            max_restarts,
            max_seconds,
        } => {
            start_band(&handle, owned, *strategy, *max_restarts, *max_seconds)?;
            Ok(Effect::None)
        }
        Op::Fault { fault, on } => {
            let fault =
                FaultKind::parse(fault).ok_or_else(|| format!("unknown fault {fault:?}"))?;
            owned.faults = true;
            Ok(Effect::Command(Command::Fault { fault, on: *on }))
        }
        Op::Chaos {
            per_second,
            seconds,
            kinds,
        } => {
            owned.chaos = true;
            Ok(Effect::Command(Command::StartChaos(ChaosPlan {
                per_second: *per_second,
                duration: Duration::from_secs_f64(*seconds),
                kinds: kinds.clone(),
                seed: None,
            })))
        }
        Op::StartUsers {
            clients,
            ramp_per_s,
            rate_per_s,
            arrival_rate,
            seconds,
            room,
            slow_ms,
        } => {
            let defaults = LoadSettings::default();
            owned.load = true;
            Ok(Effect::Command(Command::StartLoad(LoadSettings {
                clients: *clients,
                ramp_per_s: ramp_per_s.unwrap_or(defaults.ramp_per_s),
                rate_per_s: rate_per_s.unwrap_or(defaults.rate_per_s),
                arrival_rate: *arrival_rate,
                duration: Duration::from_secs_f64(*seconds),
                room: room.clone(),
                slow_ms: *slow_ms,
            })))
        }
        Op::StopUsers => Ok(Effect::Command(Command::StopLoad)),
        Op::Contrast {
            users,
            work_ms,
            seconds,
        } => {
            owned.contrast = true;
            Ok(Effect::Command(Command::StartContrast {
                users: *users,
                work_ms: *work_ms,
                duration: Duration::from_secs_f64(*seconds),
            }))
        }
        Op::Pool {
            size,
            queue_target_ms,
            queue_interval_ms,
        } => {
            let pool = pool_of(world).ok_or("the chat server (and its pool) is not running")?;
            if owned.pool_before.is_none() {
                let (target, interval) = pool.queue_settings();
                owned.pool_before = Some((pool.metrics().pool_size, target, interval));
            }
            pool.reconfigure(
                *size,
                queue_target_ms.map(Duration::from_millis),
                queue_interval_ms.map(Duration::from_millis),
            )
            .map_err(|e| e.to_string())?;
            Ok(Effect::None)
        }
        Op::Broadcast { room, text } => {
            let addr = world
                .get_resource::<ChatServer>()
                .and_then(|c| c.ws_addr)
                .ok_or("the chat server is not running")?;
            broadcast(addr, room.clone(), text.clone());
            Ok(Effect::None)
        }
        Op::Console { command } => Ok(Effect::Command(Command::Console(command.clone()))),
    }
}

/// Posts `text` into `room` as a browser would: a Phoenix V2 WebSocket client joins the room,
/// posts once, waits for the reply and leaves. It runs on a thread of its own (bounded by a 5 s
/// timeout on every read) so the window never waits on the network.
fn broadcast(addr: std::net::SocketAddr, room: String, text: String) {
    let spawned = std::thread::Builder::new()
        .name("lesson-broadcast".into())
        .spawn(move || {
            if let Err(e) = post_once(addr, &room, &text) {
                eprintln!("crashcourse: the lesson's broadcast into {room} failed: {e}");
            }
        });
    if let Err(e) = spawned {
        eprintln!("crashcourse: could not start the lesson's broadcast: {e}");
    }
}

/// The client behind [`broadcast`]: join, post, wait for the post's reply, close.
fn post_once(addr: std::net::SocketAddr, room: &str, text: &str) -> Result<(), String> {
    use tungstenite::Message;
    let stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let url = format!("ws://{addr}/socket/websocket?vsn=2.0.0");
    let (mut ws, _) = tungstenite::client(url, stream).map_err(|e| e.to_string())?;
    let topic = serde_json::to_string(&format!("room:{room}")).map_err(|e| e.to_string())?;
    let body =
        serde_json::to_string(&serde_json::json!({ "body": text })).map_err(|e| e.to_string())?;
    ws.send(Message::text(format!(
        r#"["1","1",{topic},"phx_join",{{"nick":"lesson"}}]"#
    )))
    .map_err(|e| e.to_string())?;
    ws.send(Message::text(format!(
        r#"["1","2",{topic},"new_msg",{body}]"#
    )))
    .map_err(|e| e.to_string())?;
    // Wait (at most 50 frames, each read bounded by the timeout) for the post's reply.
    for _ in 0..50 {
        let frame = ws.read().map_err(|e| e.to_string())?;
        if let Message::Text(t) = frame {
            if t.starts_with(r#"["1","2""#) {
                let _ = ws.close(None);
                return if t.contains(r#""status":"ok""#) {
                    Ok(())
                } else {
                    Err(format!("the server answered {t}"))
                };
            }
        }
    }
    let _ = ws.close(None);
    Err("no reply to the post".into())
}

/// The chat server's pool, while it runs.
fn pool_of(world: &World) -> Option<Pool> {
    world
        .get_resource::<ChatServer>()
        .and_then(|c| c.endpoint.as_ref().map(|e| e.pool().clone()))
}

/// The commands that undo what the lesson started through the app (faults, chaos, load,
/// the contrast), and the pool put back as it was.
pub fn undo(world: &World, owned: &mut Owned) -> Vec<Command> {
    let mut commands = Vec::new();
    if std::mem::take(&mut owned.faults) {
        commands.push(Command::AllFaultsOff);
    }
    if std::mem::take(&mut owned.chaos) {
        commands.push(Command::StopChaos);
    }
    if std::mem::take(&mut owned.load) {
        commands.push(Command::StopLoad);
    }
    if std::mem::take(&mut owned.contrast) {
        commands.push(Command::StopContrast);
    }
    if let (Some((size, target, interval)), Some(pool)) = (owned.pool_before.take(), pool_of(world))
    {
        let _ = pool.reconfigure(Some(size), Some(target), Some(interval));
    }
    commands
}

/// The `do` name of `op`, for messages.
pub fn op_name(op: &Op) -> &'static str {
    match op {
        Op::SpawnIdle { .. } => "spawn_idle",
        Op::StopSpawned => "stop_spawned",
        Op::OpenChat { .. } => "open_chat",
        Op::Kill(_) => "kill",
        Op::Crash(_) => "crash",
        Op::Exit { .. } => "exit",
        Op::StartBand { .. } => "start_band",
        Op::Fault { on: true, .. } => "fault_on",
        Op::Fault { on: false, .. } => "fault_off",
        Op::Chaos { .. } => "chaos",
        Op::StartUsers { .. } => "start_users",
        Op::StopUsers => "stop_users",
        Op::Broadcast { .. } => "broadcast",
        Op::Contrast { .. } => "contrast",
        Op::Pool { .. } => "pool",
        Op::Console { .. } => "console",
    }
}

/// Stops everything the lesson started: its idle processes and the band. The children go
/// first and their supervisor last (as an OTP supervisor stops its children before it exits),
/// from a process of its own so the window never waits.
pub fn stop_all(handle: &Handle, owned: &mut Owned) {
    owned.figures.generation.fetch_add(1, Ordering::SeqCst);
    owned.figures.spawned.store(0, Ordering::SeqCst);
    let children = std::mem::take(
        &mut *owned
            .figures
            .children
            .lock()
            .unwrap_or_else(|e| e.into_inner()),
    );
    if let Some(band) = owned.band.take() {
        let _ = handle.exit(band, ExitReason::Shutdown);
    }
    let Some(sup) = owned.lesson_sup.take() else {
        return;
    };
    let stopper = handle.spawn_with(
        SpawnOpts::new().label("lesson stopper"),
        move |ctx: Ctx| async move {
            let handle = ctx.handle().clone();
            for (i, pid) in children.iter().enumerate() {
                let _ = handle.exit(*pid, ExitReason::Shutdown);
                if i % 1024 == 1023 {
                    yield_now().await;
                }
            }
            // As an OTP supervisor does, exit only once every child is gone: an exit signal
            // is delivered later, and the learner is told the children go first.
            for (i, pid) in children.into_iter().enumerate() {
                handle.wait_exit(pid).await;
                if i % 1024 == 1023 {
                    yield_now().await;
                }
            }
            let _ = handle.exit(sup, ExitReason::Shutdown);
            ExitReason::Normal
        },
    );
    if stopper.is_err() {
        let _ = handle.exit(sup, ExitReason::Shutdown);
    }
}

/// Starts `count` idle processes under the lesson's supervisor process, from a spawner
/// process (so the window never waits), then measures their mean memory.
///
/// The `lesson` process is shown as a supervisor with the children under it; [`stop_all`]
/// stops the children, then it, as an OTP supervisor's shutdown would. Children are spawned
/// directly rather than through a supervisor call each, so 100,000 of them start in a moment
/// even in a debug build.
fn spawn_idle(handle: &Handle, owned: &mut Owned, count: usize) -> Result<(), ActionError> {
    let sup = match owned.lesson_sup.filter(|p| handle.is_alive(*p)) {
        Some(sup) => sup,
        None => {
            let sup = handle
                .spawn_with(
                    SpawnOpts::new()
                        .label(LESSON_SUPERVISOR)
                        .kind(Kind::Supervisor),
                    idle,
                )
                .map_err(|e| format!("the lesson supervisor did not start: {e}"))?;
            owned.lesson_sup = Some(sup);
            sup
        }
    };
    let figures = owned.figures.clone();
    let generation = figures.generation.load(Ordering::SeqCst);
    handle
        .spawn_with(
            SpawnOpts::new().label("lesson spawner"),
            move |ctx: Ctx| async move {
                let handle = ctx.handle().clone();
                let label: Arc<str> = Arc::from("idle");
                let mut sample = Vec::new();
                for i in 0..count {
                    if figures.generation.load(Ordering::SeqCst) != generation {
                        return ExitReason::Normal;
                    }
                    let opts = SpawnOpts::new().label(label.clone()).parent(sup);
                    match handle.spawn_with(opts, idle) {
                        Ok(pid) => {
                            figures
                                .children
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .push(pid);
                            figures.spawned.fetch_add(1, Ordering::SeqCst);
                            if sample.len() < 64 {
                                sample.push(pid);
                            }
                        }
                        Err(e) => return ExitReason::custom(format!("spawn {i} failed: {e}")),
                    }
                    if i % 1024 == 1023 {
                        // Let the rest of the runtime run between batches.
                        yield_now().await;
                    }
                }
                let sizes: Vec<usize> = sample
                    .iter()
                    .filter_map(|p| {
                        handle
                            .process_info(*p)
                            .and_then(|i| i.row)
                            .map(|r| r.memory)
                    })
                    .collect();
                if !sizes.is_empty() && figures.generation.load(Ordering::SeqCst) == generation {
                    figures
                        .per_idle
                        .store(sizes.iter().sum::<usize>() / sizes.len(), Ordering::SeqCst);
                }
                ExitReason::Normal
            },
        )
        .map_err(|e| format!("the spawner did not start: {e}"))?;
    Ok(())
}

/// Yields once to the executor.
async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}

/// An idle process: waits for messages forever and drops them.
async fn idle(ctx: Ctx) -> ExitReason {
    loop {
        ctx.recv().await;
    }
}

/// Starts the band (replacing an earlier one): a supervisor over three registered workers.
fn start_band(
    handle: &Handle,
    owned: &mut Owned,
    strategy: BandStrategy,
    max_restarts: u32,
    max_seconds: u32,
) -> Result<(), ActionError> {
    if let Some(old) = owned.band.take() {
        let _ = handle.exit(old, ExitReason::Shutdown);
        // The members' names must be free before new members register them.
        handle.wait_exit_timeout(old, Duration::from_secs(2));
    }
    let strategy = match strategy {
        BandStrategy::OneForOne => Strategy::OneForOne,
        BandStrategy::RestForOne => Strategy::RestForOne,
        BandStrategy::OneForAll => Strategy::OneForAll,
    };
    let intensity = Intensity::new(max_restarts, Duration::from_secs(u64::from(max_seconds)));
    let mut spec = SupervisorSpec::new(strategy, intensity);
    for member in BAND_MEMBERS {
        spec = spec.child(
            ChildSpec::worker(member, move |ctx: Ctx| async move {
                if let Err(e) = ctx.register(member) {
                    return ExitReason::custom(format!("could not register {member}: {e}"));
                }
                loop {
                    ctx.recv().await;
                }
            })
            .label(member),
        );
    }
    let pid = supervisor::start(handle, SpawnOpts::new().label(BAND), spec)
        .map_err(|e| format!("the band did not start: {e}"))?;
    owned.band = Some(pid);
    Ok(())
}

/// The first live process `target` names: a registered name, else the lowest pid of that
/// kind or with that label among the processes the view model knows.
pub fn find(world: &World, handle: &Handle, target: &Target) -> Result<Pid, ActionError> {
    if let Target::Name(name) = target {
        return handle
            .whereis(name)
            .ok_or_else(|| format!("no process is registered as {name:?}"));
    }
    let mut query = world
        .try_query::<(&ProcessId, &Identity, &ProcessStatus)>()
        .ok_or("no processes yet")?;
    query
        .iter(world)
        .filter(|(_, _, s)| matches!(s, ProcessStatus::Alive(_)))
        .filter(|(_, i, _)| match target {
            Target::Kind(k) => i.kind == *k,
            Target::Label(l) => i.label.contains(l.as_str()),
            Target::Name(_) => false,
        })
        .map(|(p, _, _)| p.0)
        .filter(|p| handle.is_alive(*p))
        .min()
        .ok_or_else(|| match target {
            Target::Kind(k) => format!("no live process of kind {}", k.name()),
            Target::Label(l) => format!("no live process labelled {l:?}"),
            Target::Name(_) => String::new(),
        })
}
