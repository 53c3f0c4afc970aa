//! The generic server: calls, casts, timeouts, state rendering and memory.

mod support;

use std::time::Duration;

use crashcourse_runtime::server::{self, CallError, Flow, ReplyTo, Server};
use crashcourse_runtime::{Ctx, ExitReason, Msg, SpawnOpts};
use support::{runtime, wait_for, wait_until};

/// A key-value store whose state grows with every put.
#[derive(Default)]
struct Store {
    entries: Vec<(String, String)>,
    stopped: Option<std::sync::mpsc::Sender<ExitReason>>,
}

#[derive(Debug)]
enum Call {
    Get(String),
    Len,
    /// Never answers: keeps the reply handle and drops it.
    Ignore,
    /// Answers after sleeping past the caller's timeout.
    Slow(Duration),
    Crash,
}

#[derive(Debug)]
enum Cast {
    Put(String, String),
    Stop,
}

impl Server for Store {
    type Call = Call;
    type Reply = Option<String>;
    type Cast = Cast;

    fn handle_call(&mut self, _ctx: &Ctx, request: Call, reply: ReplyTo<Option<String>>) -> Flow {
        match request {
            Call::Get(k) => {
                reply.send(
                    self.entries
                        .iter()
                        .find(|(key, _)| *key == k)
                        .map(|(_, v)| v.clone()),
                );
            }
            Call::Len => {
                reply.send(Some(self.entries.len().to_string()));
            }
            Call::Ignore => drop(reply),
            Call::Slow(d) => {
                std::thread::sleep(d);
                reply.send(None);
            }
            Call::Crash => panic!("asked to crash"),
        }
        Flow::Continue
    }

    fn handle_cast(&mut self, _ctx: &Ctx, request: Cast) -> Flow {
        match request {
            Cast::Put(k, v) => {
                self.entries.push((k, v));
                Flow::Continue
            }
            Cast::Stop => Flow::Stop(ExitReason::custom("asked to stop")),
        }
    }

    fn handle_info(&mut self, _ctx: &Ctx, msg: Msg) -> Flow {
        if let Ok(n) = msg.downcast::<u32>() {
            self.entries.push((format!("info {n}"), String::new()));
        }
        Flow::Continue
    }

    fn terminate(&mut self, _ctx: &Ctx, reason: &ExitReason) {
        if let Some(tx) = &self.stopped {
            let _ = tx.send(reason.clone());
        }
    }

    fn render_state(&self) -> String {
        format!("{} entries: {:?}", self.entries.len(), self.entries)
    }

    fn state_size(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.entries.capacity() * std::mem::size_of::<(String, String)>()
            + self
                .entries
                .iter()
                .map(|(k, v)| k.capacity() + v.capacity())
                .sum::<usize>()
    }
}

const T: Duration = Duration::from_secs(5);

#[test]
fn call_cast_and_info_reach_their_handlers_in_order() {
    let rt = runtime();
    let pid = server::start(&rt, SpawnOpts::new(), Store::default()).unwrap();
    server::cast::<Store>(&rt, pid, Cast::Put("a".into(), "1".into())).unwrap();
    rt.send(pid, 9u32).unwrap();
    let a = rt
        .block_on(server::call::<Store>(&rt, pid, Call::Get("a".into()), T))
        .unwrap();
    assert_eq!(a, Some("1".to_string()));
    let len = rt
        .block_on(server::call::<Store>(&rt, pid, Call::Len, T))
        .unwrap();
    assert_eq!(
        len,
        Some("2".to_string()),
        "the info message was handled before the call"
    );
}

#[test]
fn a_call_times_out_and_a_call_to_a_dead_or_silent_server_fails_cleanly() {
    let rt = runtime();
    let pid = server::start(&rt, SpawnOpts::new(), Store::default()).unwrap();
    let slow = rt.block_on(server::call::<Store>(
        &rt,
        pid,
        Call::Slow(Duration::from_millis(200)),
        Duration::from_millis(20),
    ));
    assert_eq!(
        slow,
        Err(CallError::Timeout(pid, Duration::from_millis(20)))
    );
    let ignored = rt.block_on(server::call::<Store>(&rt, pid, Call::Ignore, T));
    assert_eq!(ignored, Err(CallError::NoReply(pid)));
    let crashed = rt.block_on(server::call::<Store>(&rt, pid, Call::Crash, T));
    assert_eq!(
        crashed,
        Err(CallError::NoReply(pid)),
        "the caller learns at once, not after the timeout"
    );
    wait_until("the server is gone", || !rt.is_alive(pid));
    let dead = rt.block_on(server::call::<Store>(&rt, pid, Call::Len, T));
    assert_eq!(dead, Err(CallError::NoProc(pid)));
}

#[test]
fn stop_runs_terminate_with_the_reason() {
    let rt = runtime();
    let (tx, rx) = std::sync::mpsc::channel();
    let store = Store {
        stopped: Some(tx),
        ..Store::default()
    };
    let pid = server::start(&rt, SpawnOpts::new(), store).unwrap();
    server::cast::<Store>(&rt, pid, Cast::Stop).unwrap();
    assert_eq!(
        rx.recv_timeout(T).unwrap(),
        ExitReason::custom("asked to stop")
    );
    wait_until("it is gone", || !rt.is_alive(pid));
    assert_eq!(
        rt.process_info(pid).unwrap().last_exit,
        Some(ExitReason::custom("asked to stop"))
    );
}

#[test]
fn the_state_renders_for_the_inspector_and_its_growth_shows_in_memory() {
    let rt = runtime();
    let pid = server::start(&rt, SpawnOpts::new().label("store"), Store::default()).unwrap();
    let text = rt.block_on(rt.fresh_state(pid, T)).unwrap();
    assert_eq!(text, "0 entries: []");
    wait_until("the first size report", || {
        rt.process_info(pid).unwrap().row.unwrap().memory > 0
    });
    let before = rt.process_info(pid).unwrap().row.unwrap().memory;
    for i in 0..1000 {
        server::cast::<Store>(&rt, pid, Cast::Put(format!("key {i}"), "x".repeat(100))).unwrap();
    }
    // A state request is answered ahead of queued messages (it is a signal, not a message), so
    // wait for the casts to be handled first.
    wait_until("every put is handled", || {
        rt.process_info(pid).unwrap().mailbox_len == 0
    });
    let text = rt.block_on(rt.fresh_state(pid, T)).unwrap();
    assert!(text.starts_with("1000 entries"), "{}", &text[..40]);
    let after = rt.process_info(pid).unwrap().row.unwrap().memory;
    assert!(
        after > before + 100_000,
        "memory grew from {before} to only {after}"
    );
}

#[test]
fn the_inspector_sees_the_first_waiting_messages_as_text() {
    let rt = runtime();
    let pid = rt
        .spawn(|ctx| async move {
            // Waits for a specific message, leaving others queued.
            ctx.recv_match(|m| m.is::<u64>()).await;
        })
        .unwrap();
    for i in 0..20 {
        rt.send(pid, format!("hello {i}")).unwrap();
    }
    wait_until("all are queued", || {
        rt.process_info(pid).unwrap().mailbox_len == 20
    });
    let info = rt.process_info(pid).unwrap();
    assert_eq!(info.mailbox_head.len(), 10);
    assert_eq!(info.mailbox_head[0], "\"hello 0\"");
    assert_eq!(info.mailbox_head[9], "\"hello 9\"");
    let row = info.row.unwrap();
    assert_eq!(row.mailbox_len, 20);
    assert_eq!(row.messages_in, 20);
}

/// A [`server::Behaviour`] whose handlers wait: `Arm` waits (selective receive) for `Open`
/// before it returns, leaving every other message queued in order; it records what it sees.
#[derive(Default)]
struct Gate {
    log: Vec<String>,
}

#[derive(Debug)]
struct Arm;

#[derive(Debug)]
struct Open;

impl server::Behaviour for Gate {
    type Call = ();
    type Reply = Vec<String>;
    type Cast = Arm;

    async fn init(&mut self, ctx: &Ctx) -> Result<(), ExitReason> {
        ctx.trap_exit(true);
        Ok(())
    }

    async fn handle_call(&mut self, _ctx: &Ctx, _: (), reply: ReplyTo<Vec<String>>) -> Flow {
        reply.send(self.log.clone());
        Flow::Continue
    }

    async fn handle_cast(&mut self, ctx: &Ctx, _: Arm) -> Flow {
        ctx.recv_match(|m| m.is::<Open>()).await;
        self.log.push("opened".into());
        Flow::Continue
    }

    async fn handle_exit(&mut self, _ctx: &Ctx, exit: crashcourse_runtime::Exit) -> Flow {
        self.log.push(format!("exit {}", exit.reason));
        Flow::Continue
    }

    async fn handle_info(&mut self, _ctx: &Ctx, msg: Msg) -> Flow {
        if let Ok(n) = msg.downcast::<u32>() {
            self.log.push(format!("info {n}"));
        }
        Flow::Continue
    }
}

#[test]
fn an_async_handler_waits_with_selective_receive_and_exits_reach_handle_exit() {
    let rt = runtime();
    let pid = server::start(&rt, SpawnOpts::new(), Gate::default()).unwrap();
    server::cast::<Gate>(&rt, pid, Arm).unwrap();
    rt.send(pid, 7u32).unwrap();
    rt.send(pid, Open).unwrap();
    let log = rt.block_on(server::call::<Gate>(&rt, pid, (), T)).unwrap();
    assert_eq!(
        log,
        vec!["opened".to_string(), "info 7".to_string()],
        "the cast's handler waited for Open; the info queued behind it came next"
    );
    rt.spawn_with(SpawnOpts::new().link(pid), |_ctx| async {
        ExitReason::custom("boom")
    })
    .unwrap();
    let log = wait_for("the linked exit is handled", || {
        let log = rt.block_on(server::call::<Gate>(&rt, pid, (), T)).ok()?;
        (log.len() == 3).then_some(log)
    });
    assert!(
        log[2].starts_with("exit") && log[2].contains("boom"),
        "{log:?}"
    );
    assert!(
        rt.is_alive(pid),
        "a trapped exit from a linked process does not stop it"
    );
}
