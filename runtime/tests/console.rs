//! The console against a live runtime: every command answers from real processes with its IEx
//! expression, bad lines get a clear error and a suggestion, and a stuck server's `state` times
//! out within its timeout.

mod support;

use std::time::{Duration, Instant};

use crashcourse_runtime::server::{self, Behaviour, Flow, ReplyTo, Server};
use crashcourse_runtime::supervisor::{self, ChildSpec, Intensity, Strategy, SupervisorSpec};
use crashcourse_runtime::{Console, Ctx, ExitReason, Pid, Runtime, SpawnOpts, TraceEnd};
use support::{runtime, wait_until, DEADLINE};

/// A named server with a state it renders.
struct Counter(u32);

impl Server for Counter {
    type Call = ();
    type Reply = u32;
    type Cast = ();

    fn handle_call(&mut self, _ctx: &Ctx, _: (), reply: ReplyTo<u32>) -> Flow {
        reply.send(self.0);
        Flow::Continue
    }

    fn handle_cast(&mut self, _ctx: &Ctx, _: ()) -> Flow {
        self.0 += 1;
        Flow::Continue
    }

    fn render_state(&self) -> String {
        format!("%{{count: {}}}", self.0)
    }
}

/// A server that, once cast to, waits forever inside its handler: it is stuck.
struct Stuck;

impl Behaviour for Stuck {
    type Call = ();
    type Reply = ();
    type Cast = ();

    async fn handle_call(&mut self, _ctx: &Ctx, _: (), reply: ReplyTo<()>) -> Flow {
        reply.send(());
        Flow::Continue
    }

    async fn handle_cast(&mut self, ctx: &Ctx, _: ()) -> Flow {
        ctx.recv_match(|_| false).await;
        Flow::Continue
    }
}

/// A process that takes messages until told "stop", labelled `label`.
fn sink(rt: &Runtime, label: &str) -> Pid {
    rt.spawn_with(SpawnOpts::new().label(label.to_string()), |ctx| async move {
        while ctx.recv().await.downcast_ref::<&'static str>() != Some(&"stop") {}
    })
    .unwrap()
}

fn text(lines: &[String]) -> String {
    lines.join("\n")
}

#[test]
fn count_memory_and_help_answer_with_their_iex_expressions() {
    let rt = runtime();
    let console = Console::new(&rt);
    for i in 0..3 {
        sink(&rt, &format!("s{i}"));
    }
    let a = console.run("count");
    assert!(!a.error, "{:?}", a.lines);
    assert_eq!(a.iex, "length(Process.list())");
    assert_eq!(a.lines, vec![format!("{} processes", rt.process_count())]);

    let m = console.run("memory");
    assert!(!m.error);
    assert_eq!(m.iex, ":erlang.memory()");
    let body = text(&m.lines);
    for category in ["processes", "mailboxes", "tables", "chat", "pool", "total"] {
        assert!(body.contains(category), "memory lacks {category}: {body}");
    }

    let h = console.run("help");
    assert!(!h.error);
    assert_eq!(h.lines.len(), Console::commands().len());
    assert!(text(&h.lines).contains("state <pid|name> [timeout]"));
}

#[test]
fn unknown_commands_and_wrong_arguments_get_clear_errors() {
    let rt = runtime();
    let console = Console::new(&rt);
    let a = console.run("cuont");
    assert!(a.error);
    assert!(
        a.lines[0].contains("unknown command `cuont`"),
        "{:?}",
        a.lines
    );
    assert!(a.lines[0].contains("did you mean `count`"), "{:?}", a.lines);
    let b = console.run("frobnicate everything");
    assert!(
        b.error && b.lines[0].contains("`help` lists"),
        "{:?}",
        b.lines
    );
    let c = console.run("info");
    assert!(
        c.error && c.lines[0].contains("usage: info <pid|name>"),
        "{:?}",
        c.lines
    );
    let d = console.run("info nobody_here");
    assert!(
        d.error && d.lines[0].contains("no process named `nobody_here`"),
        "{:?}",
        d.lines
    );
    let e = console.run("top colour");
    assert!(
        e.error && e.lines[0].contains("cannot sort by `colour`"),
        "{:?}",
        e.lines
    );
    let f = console.run("state x soon");
    assert!(
        f.error && f.lines[0].contains("bad timeout"),
        "{:?}",
        f.lines
    );
    assert!(console.run("   ").error);
}

#[test]
fn info_and_state_read_a_named_server_and_label_lookups_work() {
    let rt = runtime();
    let console = Console::new(&rt);
    let pid = server::start(&rt, SpawnOpts::new().name("counter"), Counter(0)).unwrap();
    server::cast::<Counter>(&rt, pid, ()).unwrap();
    server::cast::<Counter>(&rt, pid, ()).unwrap();
    // A call returns after both casts were handled.
    let n = rt.block_on(server::call::<Counter>(&rt, pid, (), DEADLINE));
    assert_eq!(n, Ok(2));
    let s = console.run("state counter");
    assert!(!s.error, "{:?}", s.lines);
    assert_eq!(s.lines, vec!["%{count: 2}".to_string()]);
    assert_eq!(
        s.iex,
        format!(":sys.get_state(pid(\"0.{}.0\"), 1000)", pid.id())
    );

    let i = console.run(&format!("info {pid}"));
    assert!(!i.error, "{:?}", i.lines);
    assert!(
        i.lines[0].starts_with(&format!("{pid} counter (server)")),
        "{:?}",
        i.lines
    );
    assert_eq!(i.iex, format!("Process.info(pid(\"0.{}.0\"))", pid.id()));
    let by_hash = console.run(&format!("info #{}", pid.id()));
    assert_eq!(by_hash.lines[0], i.lines[0]);

    let labelled = sink(&rt, "unmatched");
    let l = console.run("info unmatched");
    assert!(
        l.lines[0].starts_with(&labelled.to_string()),
        "{:?}",
        l.lines
    );
}

#[test]
fn a_stuck_server_state_times_out_within_its_timeout() {
    let rt = runtime();
    let console = Console::new(&rt);
    let pid = server::start(&rt, SpawnOpts::new().name("stuck"), Stuck).unwrap();
    server::cast::<Stuck>(&rt, pid, ()).unwrap();
    // The cast is taken once the mailbox is empty again.
    wait_until("the cast is taken", || {
        rt.process_info(pid).is_some_and(|i| i.mailbox_len == 0)
    });
    for (line, limit, said) in [
        ("state stuck 300ms", Duration::from_millis(300), "300ms"),
        ("state stuck", Duration::from_secs(1), "1s"),
    ] {
        let start = Instant::now();
        let a = console.run(line);
        let took = start.elapsed();
        assert!(a.error, "{line}: {:?}", a.lines);
        assert_eq!(
            a.lines,
            vec![format!(
                "timed out after {said}: the process did not answer (it is busy or stuck)"
            )]
        );
        assert!(took >= limit, "{line} gave up early: {took:?}");
        assert!(
            took < limit + Duration::from_millis(500),
            "{line} took {took:?}"
        );
    }
}

#[test]
fn subscribers_children_and_top() {
    let rt = runtime();
    let console = Console::new(&rt);
    let a = sink(&rt, "listener a");
    let b = sink(&rt, "listener b");
    rt.subscribe(a, "room:lobby");
    rt.subscribe(b, "room:lobby");
    let s = console.run("subscribers room:lobby");
    assert!(!s.error);
    assert_eq!(s.lines[0], "2 subscribers of room:lobby");
    assert!(text(&s.lines).contains("listener a") && text(&s.lines).contains("listener b"));
    assert_eq!(s.iex, "Registry.lookup(MyApp.PubSub, \"room:lobby\")");

    let spec = SupervisorSpec::new(
        Strategy::OneForOne,
        Intensity::new(3, Duration::from_secs(5)),
    )
    .child(ChildSpec::worker("alpha", |ctx: Ctx| async move {
        while ctx.recv().await.downcast::<&str>().ok() != Some("exit") {}
    }))
    .child(ChildSpec::server("beta", || Counter(7)));
    supervisor::start(&rt, SpawnOpts::new().name("my_sup"), spec).unwrap();
    let c = console.run("children my_sup");
    assert!(!c.error, "{:?}", c.lines);
    assert_eq!(c.lines[0], "2 children");
    assert!(
        c.lines[1].contains("alpha") && c.lines[2].contains("beta"),
        "{:?}",
        c.lines
    );
    let not_sup = console.run(&format!("children {a}"));
    assert!(not_sup.error && not_sup.lines[0].contains("not a live supervisor"));

    // The busiest mailbox: 500 messages queued at a process that never reads them.
    let hoarder = rt
        .spawn_with(SpawnOpts::new().label("hoarder"), |ctx| async move {
            ctx.recv_match(|_| false).await;
        })
        .unwrap();
    for i in 0..500u32 {
        rt.send(hoarder, i).unwrap();
    }
    let t = console.run("top mailbox 3");
    assert!(!t.error);
    assert_eq!(t.lines.len(), 3);
    assert!(
        t.lines[0].contains("hoarder") && t.lines[0].contains("500 queued"),
        "{:?}",
        t.lines
    );
    assert_eq!(t.iex, ":recon.proc_count(:message_queue_len, 3)");
    let m = console.run("top memory");
    assert!(!m.error && m.lines[0].contains("hoarder"), "{:?}", m.lines);

    // Busy time: a process that spends its polls computing (2 ms, then a 1 ms wait) rises
    // to the top.
    let spinner = rt
        .spawn_with(SpawnOpts::new().label("spinner"), |ctx| async move {
            loop {
                let start = Instant::now();
                while start.elapsed() < Duration::from_millis(2) {
                    std::hint::spin_loop();
                }
                if ctx.recv_timeout(Duration::from_millis(1)).await.is_some() {
                    break;
                }
            }
        })
        .unwrap();
    wait_until("the spinner is the busiest", || {
        let t = console.run("top busy 1");
        t.lines[0].contains("spinner")
    });
    assert!(console.run("top busy").iex.contains(":recon.proc_window"));
    rt.send(spinner, "stop").unwrap();
}

#[test]
fn kill_exit_crash_and_trace_act_on_real_processes() {
    let rt = runtime();
    let console = Console::new(&rt);
    let victim = sink(&rt, "unmatched");
    let k = console.run("kill unmatched");
    assert!(!k.error, "{:?}", k.lines);
    assert_eq!(
        k.iex,
        format!("Process.exit(pid(\"0.{}.0\"), :kill)", victim.id())
    );
    assert!(rt.wait_exit_timeout(victim, DEADLINE).is_some());
    let again = console.run(&format!("kill {victim}"));
    assert!(again.error && again.lines[0].contains("is not alive"));

    let e = sink(&rt, "exitee");
    let a = console.run("exit exitee bored");
    assert!(!a.error);
    assert_eq!(
        rt.wait_exit_timeout(e, DEADLINE),
        Some(ExitReason::custom("bored"))
    );

    let c = sink(&rt, "crashee");
    assert!(!console.run("crash crashee").error);
    assert!(matches!(
        rt.wait_exit_timeout(c, DEADLINE),
        Some(ExitReason::Panic(_))
    ));

    let traced = sink(&rt, "traced");
    let t = console.run("trace traced 3 5s");
    assert!(!t.error, "{:?}", t.lines);
    let trace = t.trace.expect("the answer carries the trace");
    assert_eq!(trace.pids(), &[traced]);
    for i in 0..5u32 {
        rt.send(traced, i).unwrap();
    }
    assert_eq!(trace.wait(DEADLINE), Some(TraceEnd::Count));
    assert_eq!(trace.events().len(), 3);

    let short = console.run("trace traced 50 200ms").trace.expect("trace");
    assert_eq!(short.wait(DEADLINE), Some(TraceEnd::Time));
    let bad = console.run("trace traced 0");
    assert!(bad.error && bad.lines[0].contains("bad count"));
    rt.send(traced, "stop").unwrap();
}

#[test]
fn completion_offers_commands_names_labels_and_pids() {
    let rt = runtime();
    let console = Console::new(&rt);
    server::start(&rt, SpawnOpts::new().name("counter"), Counter(0)).unwrap();
    let p = sink(&rt, "unmatched");
    assert_eq!(console.complete("co"), vec!["count".to_string()]);
    assert_eq!(
        console.complete("t"),
        vec!["top".to_string(), "trace".to_string()]
    );
    assert_eq!(
        console.complete("state cou"),
        vec!["state counter".to_string()]
    );
    assert_eq!(
        console.complete("kill unm"),
        vec!["kill unmatched".to_string()]
    );
    assert!(console
        .complete("info #")
        .contains(&format!("info #{}", p.id())));
    assert!(console.complete("info <0.").contains(&format!("info {p}")));
    assert_eq!(console.complete("top ma"), vec!["top mailbox".to_string()]);
}
