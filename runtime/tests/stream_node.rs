//! The observer stream against a live runtime: observers get a keyframe then deltas, refusals
//! are told with an error frame, a misbehaving observer is cut off while another keeps its
//! stream, requests are carried out, and recordings are bounded and read back (seeking by
//! keyframes gives the same state as playing from the start).

mod support;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crashcourse_runtime::stream::codec::write_handshake;
use crashcourse_runtime::stream::{
    ClientError, Command, ErrorCode, Frame, ObserverClient, ObserverServer, Outcome, Publisher,
    PublisherConfig, RecordConfig, Recorder, Recording, ServerConfig, ServerError, StreamState,
    VERSION,
};
use crashcourse_runtime::{Handle, Pid};
use support::{runtime, wait_until, DEADLINE};

const TOKEN: &str = "0123456789abcdef";

fn publisher(h: &Handle) -> Arc<Publisher> {
    Publisher::start(
        h,
        PublisherConfig {
            tick: Duration::from_millis(20),
            metrics_every: Duration::from_millis(100),
            ..PublisherConfig::default()
        },
    )
    .unwrap()
}

fn server(p: &Arc<Publisher>) -> ObserverServer {
    ObserverServer::start(p, ServerConfig::new("127.0.0.1:0".parse().unwrap(), TOKEN)).unwrap()
}

fn connect(s: &ObserverServer, token: &str) -> Result<ObserverClient, ClientError> {
    ObserverClient::connect(&s.local_addr().to_string(), token, Duration::from_secs(5))
}

fn idle(h: &Handle) -> Pid {
    h.spawn(|ctx| async move {
        ctx.recv().await;
    })
    .unwrap()
}

/// Applies frames until `done` holds for the state (or the deadline passes).
fn follow(
    c: &mut ObserverClient,
    state: &mut StreamState,
    what: &str,
    done: impl Fn(&StreamState) -> bool,
) {
    c.set_timeout(Some(DEADLINE)).unwrap();
    let deadline = Instant::now() + DEADLINE;
    while !done(state) {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        let frame = c.next_frame().unwrap();
        assert!(
            !matches!(frame, Frame::Error(_)),
            "unexpected error while waiting until {what}: {frame:?}"
        );
        state.apply(&frame);
    }
}

#[test]
fn an_observer_gets_a_keyframe_then_deltas_and_events() {
    let rt = runtime();
    let before = idle(&rt);
    let p = publisher(&rt);
    let s = server(&p);
    let mut c = connect(&s, TOKEN).unwrap();
    assert_eq!(c.hello().version, VERSION);
    c.set_timeout(Some(DEADLINE)).unwrap();
    let first = c.next_frame().unwrap();
    let Frame::Keyframe(k) = &first else {
        panic!("expected a keyframe first, got {first:?}")
    };
    assert!(k.rows.iter().any(|r| r.pid == before.id()));
    let mut state = StreamState::default();
    state.apply(&first);
    let after = idle(&rt);
    follow(&mut c, &mut state, "the new process is in the table", |s| {
        s.rows.contains_key(&after.id())
    });
    rt.kill(before).unwrap();
    follow(&mut c, &mut state, "the killed process is gone", |s| {
        !s.rows.contains_key(&before.id())
            && s.events.iter().any(|e| {
                e.pid == before.id()
                    && matches!(
                        e.to_event().kind,
                        crashcourse_runtime::observe::EventKind::Exited { .. }
                    )
            })
    });
    follow(&mut c, &mut state, "metrics arrive", |s| {
        s.metrics.is_some()
    });
    // The rebuilt table matches the runtime's own.
    wait_until("the table settles", || {
        let live: std::collections::BTreeSet<u64> =
            rt.process_table().iter().map(|r| r.pid.id()).collect();
        let seen: std::collections::BTreeSet<u64> = state.rows.keys().copied().collect();
        if live != seen {
            let _ = c.set_timeout(Some(Duration::from_millis(50)));
            if let Ok(f) = c.next_frame() {
                state.apply(&f);
            }
        }
        live == seen
    });
}

/// Reads the node's header and one frame from a raw socket.
fn raw_error(stream: &mut TcpStream) -> Frame {
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut all = Vec::new();
    let _ = stream.read_to_end(&mut all);
    assert!(all.len() > 8, "the node sent {} bytes", all.len());
    let (frame, _) =
        crashcourse_runtime::stream::codec::decode_prefixed::<Frame>(&all[8..], 1 << 20)
            .unwrap()
            .unwrap();
    frame
}

#[test]
fn a_garbage_sending_observer_is_cut_off_while_another_keeps_its_stream() {
    let rt = runtime();
    let p = publisher(&rt);
    let s = server(&p);
    let mut good = connect(&s, TOKEN).unwrap();
    let mut bad = connect(&s, TOKEN).unwrap();
    wait_until("both are attached", || s.attached() == 2);
    // A frame claiming 3 bytes that decode to nothing valid.
    bad.send_raw(&[3, 0, 0, 0, 0xff, 0xff, 0xff]).unwrap();
    bad.set_timeout(Some(DEADLINE)).unwrap();
    let deadline = Instant::now() + DEADLINE;
    let error = loop {
        assert!(Instant::now() < deadline, "no error frame");
        match bad.next_frame() {
            Ok(Frame::Error(e)) => break e,
            Ok(_) => {}
            Err(e) => panic!("the connection ended without an error frame: {e}"),
        }
    };
    assert_eq!(error.code, ErrorCode::Malformed, "{error:?}");
    assert!(matches!(bad.next_frame(), Err(ClientError::Codec(_))));
    wait_until("the bad observer is detached", || s.attached() == 1);
    // The good one still follows the node.
    let mut state = StreamState::default();
    let pid = idle(&rt);
    follow(
        &mut good,
        &mut state,
        "the good observer sees a new process",
        |s| s.rows.contains_key(&pid.id()),
    );
    // An oversized request is refused the same way.
    let mut big = connect(&s, TOKEN).unwrap();
    big.send_raw(&(10u32 << 20).to_le_bytes()).unwrap();
    big.set_timeout(Some(DEADLINE)).unwrap();
    let code = loop {
        match big.next_frame() {
            Ok(Frame::Error(e)) => break e.code,
            Ok(_) => {}
            Err(e) => panic!("no error frame: {e}"),
        }
    };
    assert_eq!(code, ErrorCode::Oversized);
}

#[test]
fn wrong_tokens_versions_and_magic_are_refused_with_an_error_frame() {
    let rt = runtime();
    let p = publisher(&rt);
    let s = server(&p);
    match connect(&s, "not the token") {
        Err(ClientError::Refused(e)) => assert_eq!(e.code, ErrorCode::BadToken),
        Err(e) => panic!("expected a refusal, got {e}"),
        Ok(_) => panic!("a wrong token was let in"),
    }
    let mut raw = TcpStream::connect(s.local_addr()).unwrap();
    write_handshake(&mut raw, VERSION + 1, TOKEN).unwrap();
    match raw_error(&mut raw) {
        Frame::Error(e) => {
            assert_eq!(e.code, ErrorCode::BadVersion);
            assert!(e.message.contains("version"), "{}", e.message);
        }
        other => panic!("expected an error frame, got {other:?}"),
    }
    let mut raw = TcpStream::connect(s.local_addr()).unwrap();
    raw.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    match raw_error(&mut raw) {
        Frame::Error(e) => assert_eq!(e.code, ErrorCode::BadMagic),
        other => panic!("expected an error frame, got {other:?}"),
    }
    assert_eq!(s.attached(), 0);
    // Nothing else was affected: a right token still gets in.
    assert!(connect(&s, TOKEN).is_ok());
}

#[test]
fn only_loopback_addresses_are_served() {
    let rt = runtime();
    let p = publisher(&rt);
    let err = ObserverServer::start(&p, ServerConfig::new("0.0.0.0:0".parse().unwrap(), TOKEN))
        .err()
        .expect("0.0.0.0 was accepted");
    assert!(matches!(err, ServerError::NotLoopback(_)));
    assert!(err.to_string().contains("loopback"), "{err}");
}

#[test]
fn requests_are_carried_out_and_answered() {
    let rt = runtime();
    let p = publisher(&rt);
    let s = server(&p);
    let mut c = connect(&s, TOKEN).unwrap();
    let t = Duration::from_secs(10);
    let count = rt.process_count();
    match c
        .request(
            Command::Console {
                line: "count".into(),
            },
            t,
        )
        .unwrap()
    {
        Outcome::Console { lines, iex, error } => {
            assert!(!error);
            assert_eq!(lines, vec![format!("{count} processes")]);
            assert_eq!(iex, "length(Process.list())");
        }
        other => panic!("expected a console answer, got {other:?}"),
    }
    let victim = idle(&rt);
    assert_eq!(
        c.request(Command::Kill { pid: victim.id() }, t).unwrap(),
        Outcome::Done
    );
    wait_until("the victim is gone", || !rt.is_alive(victim));
    assert!(matches!(
        c.request(Command::Crash { pid: victim.id() }, t).unwrap(),
        Outcome::Failed(why) if why.contains("no process")
    ));
    let other = idle(&rt);
    assert_eq!(
        c.request(
            Command::Exit {
                pid: other.id(),
                reason: "bye".into()
            },
            t
        )
        .unwrap(),
        Outcome::Done
    );
    wait_until("the other is gone", || !rt.is_alive(other));
    assert!(matches!(
        c.request(Command::Fault { fault: "no_such".into(), on: true }, t).unwrap(),
        Outcome::Failed(why) if why.contains("busy_loop")
    ));
}

#[test]
fn a_recording_reads_back_and_seeking_matches_playing_from_the_start() {
    let rt = runtime();
    let p = publisher(&rt);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("session.ccrec");
    let mut config = RecordConfig::new(&path, 50 << 20);
    config.keyframe_every = Duration::from_millis(100);
    let mut rec = Recorder::start(&p, config).unwrap();
    let mut pids = Vec::new();
    let started = Instant::now();
    // Half a second of processes coming and going.
    while started.elapsed() < Duration::from_millis(600) {
        pids.push(idle(&rt));
        if pids.len() % 3 == 0 {
            let _ = rt.kill(pids[pids.len() / 2]);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    wait_until("a few keyframes are written", || rec.status().frames > 20);
    let status = rec.stop();
    assert!(status.stopped.is_none(), "{status:?}");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), status.bytes);

    let mut r = Recording::open(&path).unwrap();
    assert_eq!(r.len() as u64, status.frames);
    assert!(!r.cut_short());
    assert!(r.keyframes() >= 3, "{} keyframes", r.keyframes());
    let (first, last) = r.span().unwrap();
    assert!(last > first);
    // Play everything, noting the state at a few instants; seek to each and compare.
    let instants: Vec<Duration> = (1..=5).map(|i| first + (last - first) * i / 5).collect();
    let mut played = StreamState::default();
    let mut expected = Vec::new();
    let frames: Vec<(Duration, Frame)> = r.frames().map(|f| f.unwrap()).collect();
    let mut next = 0;
    for at in &instants {
        while next < frames.len() && frames[next].0 <= *at {
            played.apply(&frames[next].1);
            next += 1;
        }
        expected.push(played.clone());
    }
    for (at, want) in instants.iter().zip(&expected) {
        let got = r.state_at(*at).unwrap();
        assert!(got.whole);
        assert_eq!(got.rows, want.rows, "rows at {at:?}");
        assert_eq!(got.metrics, want.metrics, "metrics at {at:?}");
        assert_eq!(got.at_us, want.at_us);
    }
    // The end state is the runtime's table at the end (give or take the last tick).
    assert!(expected.last().unwrap().rows.len() > 10);
}

#[test]
fn a_recording_stops_at_its_bound_and_says_so_and_what_it_holds_still_reads() {
    let rt = runtime();
    for _ in 0..2_000 {
        idle(&rt);
    }
    let p = publisher(&rt);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("small.ccrec");
    let max = 300_000;
    let mut config = RecordConfig::new(&path, max);
    config.keyframe_every = Duration::from_millis(20);
    let rec = Recorder::start(&p, config).unwrap();
    wait_until("the recording fills up", || rec.status().full);
    let status = rec.status();
    assert!(
        status.stopped.as_deref().unwrap_or("").contains("bound"),
        "{status:?}"
    );
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size <= max, "{size} bytes over the bound of {max}");
    let mut r = Recording::open(&path).unwrap();
    assert!(r.keyframes() >= 1);
    for f in r.frames() {
        f.unwrap();
    }
    let (_, last) = r.span().unwrap();
    assert!(r.state_at(last).unwrap().rows.len() >= 2_000);
}

#[test]
fn a_truncated_recording_reads_up_to_the_cut() {
    let rt = runtime();
    let p = publisher(&rt);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.ccrec");
    let mut rec = Recorder::start(&p, RecordConfig::new(&path, 10 << 20)).unwrap();
    wait_until("a few frames", || rec.status().frames >= 3);
    let status = rec.stop();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
    let r = Recording::open(&path).unwrap();
    assert!(r.cut_short());
    assert_eq!(r.len() as u64, status.frames - 1);
    std::fs::write(&path, b"not a recording at all").unwrap();
    assert!(Recording::open(&path).is_err());
}

#[test]
fn an_observer_that_reads_too_slowly_is_dropped_and_told_while_another_keeps_up() {
    let rt = runtime();
    for _ in 0..20_000 {
        idle(&rt);
    }
    let p = publisher(&rt);
    let mut config = ServerConfig::new("127.0.0.1:0".parse().unwrap(), TOKEN);
    config.queue_bytes = 64 << 10;
    let s = ObserverServer::start(&p, config).unwrap();
    // The good observer reads on a thread of its own, counting frames.
    let mut good = connect(&s, TOKEN).unwrap();
    let frames = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (frames, stop) = (frames.clone(), stop.clone());
        std::thread::spawn(move || -> Result<StreamState, String> {
            let mut state = StreamState::default();
            good.set_timeout(Some(DEADLINE)).unwrap();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                match good.next_frame() {
                    Ok(Frame::Error(e)) => return Err(e.to_string()),
                    Ok(f) => state.apply(&f),
                    Err(e) => return Err(e.to_string()),
                }
                frames.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            Ok(state)
        })
    };
    // The slow one: a small receive buffer, and it reads nothing for now.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&s.local_addr().into()).unwrap();
    let mut slow: TcpStream = sock.into();
    write_handshake(&mut slow, VERSION, TOKEN).unwrap();
    wait_until("both are attached", || s.attached() == 2);
    // Churn, so that every tick has a delta, until the slow one is over its bound.
    let mut churn = Vec::new();
    let deadline = Instant::now() + DEADLINE;
    while s.dropped_slow() == 0 {
        assert!(
            Instant::now() < deadline,
            "the slow observer was never dropped"
        );
        for _ in 0..200 {
            churn.push(idle(&rt));
        }
        for pid in churn.drain(..100) {
            let _ = rt.kill(pid);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // Now it reads: what was in flight, then the error, then the end.
    slow.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut all = Vec::new();
    let _ = slow.read_to_end(&mut all);
    let mut at = 8;
    let mut last = None;
    while let Some((frame, used)) =
        crashcourse_runtime::stream::codec::decode_prefixed::<Frame>(&all[at..], 64 << 20).unwrap()
    {
        at += used;
        last = Some(frame);
    }
    assert_eq!(at, all.len(), "whole frames only");
    match last {
        Some(Frame::Error(e)) => assert_eq!(e.code, ErrorCode::TooSlow, "{e:?}"),
        other => panic!("expected a too-slow error last, got {other:?}"),
    }
    wait_until("the slow one is detached", || s.attached() == 1);
    // The good one kept its stream all along and still gets frames.
    let seen = frames.load(std::sync::atomic::Ordering::SeqCst);
    wait_until("the good observer gets more frames", || {
        frames.load(std::sync::atomic::Ordering::SeqCst) > seen + 3
    });
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let state = reader.join().unwrap().unwrap();
    assert!(state.rows.len() > 20_000);
}
