//! The observer stream's wire: every frame and request survives encoding; runtime events
//! survive the trip through their wire form; the decoders never panic on random or mutated
//! bytes, and refuse oversized frames before reading them.

use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;

use crashcourse_runtime::observe::{Event, EventKind, SignalOutcome};
use crashcourse_runtime::stream::codec::{
    decode, decode_prefixed, encode, read_frame, read_handshake, write_handshake, MAGIC,
};
use crashcourse_runtime::stream::frames::{
    ChatFigures, Delta, EventBatch, Hello, Keyframe, Metrics, MetricsFrame, PoolFigures, Reason,
    Reply, Row, SupervisorFigures, WireEvent, WireEventKind, WireLongPoll, WireQuantiles,
};
use crashcourse_runtime::stream::{
    CodecError, Command, ErrorCode, Frame, Outcome, Request, StreamError, MAX_REQUEST, VERSION,
};
use crashcourse_runtime::{ExitReason, Kind, Pid};
use proptest::prelude::*;

fn row(pid: u64) -> Row {
    Row {
        pid,
        name: Some("rooms".into()),
        label: Some("room:lobby".into()),
        kind: 6,
        parent: Some(3),
        status: 2,
        mailbox_len: 7,
        messages_in: 1_000_000,
        messages_out: 12,
        memory: 4_096,
        restarts: 2,
        age_us: 5_000_000,
        trap_exit: true,
        supervisor: Some(SupervisorFigures {
            restarts_in_period: 1,
            max_restarts: 3,
            period_us: 5_000_000,
            children: 40,
        }),
        busy_us: 1_234,
        polls: 99,
        busy_total_us: 99_999,
        polls_total: 1 << 40,
    }
}

fn metrics() -> Metrics {
    Metrics {
        process_count: 100_000,
        total_memory: 123_456_789,
        messages_total: 42,
        worker_busy_ns: vec![1, 2],
        worker_polls: vec![3, 4],
        run_queue: 5,
        long_polls_total: 1,
        recent_long_polls: vec![WireLongPoll {
            pid: 9,
            name: "busy loop".into(),
            worker: 1,
            running_for_us: 20_000,
            cpu_us: 15_000,
            finished: false,
            at_us: 77,
        }],
        not_yielding: vec![(9, 20_000)],
        events_recorded: 10,
        restarts_total: 3,
        uptime_us: u64::MAX,
    }
}

fn chat() -> ChatFigures {
    let q = WireQuantiles {
        count: 10,
        p50_us: 1,
        p95_us: 2,
        p99_us: 3,
        max_us: 4,
    };
    ChatFigures {
        at_us: 1,
        connections: 2,
        connections_total: 3,
        joins: 4,
        frames_in: 5,
        frames_out: 6,
        messages_posted: 7,
        broadcasts: 8,
        pool: PoolFigures {
            pool_size: 10,
            size: 10,
            checked_out: 1,
            idle: 9,
            queue_len: 0,
            slow: true,
            served: 100,
            drops: 1,
            unavailable: 2,
            timeouts: 3,
            cancelled: 4,
            connection_exits: 5,
            query_latency_us: 6,
            write_lock_held: true,
            queue_time: q,
            query_time: q,
            idle_time: q,
            recent_queue_time: q,
            recent_query_time: q,
            recent_idle_time: q,
        },
    }
}

/// Every kind of runtime event, as the runtime records them.
fn events() -> Vec<Event> {
    let p = Pid::from_id;
    let kinds = vec![
        EventKind::Spawned {
            parent: Some(p(1)),
            kind: Kind::Channel,
            label: Some(Arc::from("channel room:lobby")),
        },
        EventKind::Exited {
            reason: ExitReason::Panic(Arc::from("boom")),
        },
        EventKind::Registered {
            name: Arc::from("pubsub"),
        },
        EventKind::Linked { other: p(2) },
        EventKind::Unlinked { other: p(2) },
        EventKind::Restarted {
            child: Arc::from("room"),
            old: p(3),
            new: p(4),
            reason: ExitReason::Killed,
        },
        EventKind::IntensityExceeded {
            restarts: 4,
            max_restarts: 3,
            period: Duration::from_secs(5),
        },
        EventKind::Escalated { to: None },
        EventKind::LongPoll {
            running_for: Duration::from_millis(30),
            cpu: Duration::from_millis(25),
            finished: true,
        },
        EventKind::Signal {
            from: p(5),
            reason: ExitReason::custom("bye"),
            outcome: SignalOutcome::Trapped,
        },
        EventKind::Exited {
            reason: ExitReason::Shutdown,
        },
        EventKind::Exited {
            reason: ExitReason::NoProc,
        },
        EventKind::Exited {
            reason: ExitReason::Kill,
        },
        EventKind::Exited {
            reason: ExitReason::Normal,
        },
    ];
    kinds
        .into_iter()
        .enumerate()
        .map(|(i, kind)| Event {
            seq: i as u64,
            at: Duration::from_micros(1_000 + i as u64),
            pid: p(10 + i as u64),
            kind,
        })
        .collect()
}

/// One frame of every type.
fn every_frame() -> Vec<Frame> {
    vec![
        Frame::Error(StreamError {
            code: ErrorCode::BadToken,
            message: "wrong observer token".into(),
        }),
        Frame::Hello(Hello {
            version: VERSION,
            node: "crashcourse serve".into(),
            os_pid: 4242,
            tick_us: 200_000,
        }),
        Frame::Keyframe(Keyframe {
            at_us: 10,
            rows: vec![row(1), row(2), row(u64::MAX)],
            metrics: metrics(),
            chat: Some(chat()),
            next_event: 17,
        }),
        Frame::Delta(Delta {
            at_us: 11,
            changed: vec![row(3)],
            removed: vec![1, 2],
        }),
        Frame::Events(EventBatch {
            events: events().iter().map(WireEvent::from).collect(),
            dropped: 3,
        }),
        Frame::Metrics(MetricsFrame {
            at_us: 12,
            metrics: metrics(),
        }),
        Frame::Chat(chat()),
        Frame::Reply(Reply {
            id: 7,
            outcome: Outcome::Console {
                lines: vec!["42 processes".into()],
                iex: ":erlang.system_info(:process_count)".into(),
                error: false,
            },
        }),
        Frame::Reply(Reply {
            id: 8,
            outcome: Outcome::Failed("no process <0.9.0>".into()),
        }),
        Frame::Reply(Reply {
            id: 9,
            outcome: Outcome::Done,
        }),
        Frame::Closing {
            reason: "the node is shutting down".into(),
        },
    ]
}

fn every_request() -> Vec<Request> {
    let commands = vec![
        Command::Kill { pid: 5 },
        Command::Exit {
            pid: 5,
            reason: "shutdown".into(),
        },
        Command::Crash { pid: 6 },
        Command::Fault {
            fault: "busy_loop".into(),
            on: true,
        },
        Command::Console {
            line: "top mailbox 3".into(),
        },
    ];
    commands
        .into_iter()
        .enumerate()
        .map(|(i, command)| Request {
            id: i as u64,
            command,
        })
        .collect()
}

#[test]
fn every_frame_type_survives_encoding_through_a_byte_stream() {
    let frames = every_frame();
    let names: std::collections::HashSet<&str> = frames.iter().map(Frame::name).collect();
    assert_eq!(names.len(), 9, "one of each of the nine frame types");
    let mut wire = Vec::new();
    for f in &frames {
        wire.extend(encode(f).unwrap());
    }
    let mut r = Cursor::new(wire);
    for f in &frames {
        let back: Frame = read_frame(&mut r, usize::MAX).unwrap();
        assert_eq!(&back, f);
    }
    assert!(matches!(
        read_frame::<Frame>(&mut r, usize::MAX),
        Err(CodecError::Closed)
    ));
}

#[test]
fn every_request_survives_encoding() {
    for req in every_request() {
        let bytes = encode(&req).unwrap();
        let (back, used) = decode_prefixed::<Request>(&bytes, MAX_REQUEST)
            .unwrap()
            .unwrap();
        assert_eq!(back, req);
        assert_eq!(used, bytes.len());
    }
}

#[test]
fn every_runtime_event_comes_back_from_its_wire_form_unchanged() {
    for e in events() {
        let wire = WireEvent::from(&e);
        let back: WireEvent = decode(&encode(&wire).unwrap()[4..]).unwrap();
        assert_eq!(back.to_event(), e);
    }
    // The reasons too.
    for r in [
        Reason::Normal,
        Reason::Shutdown,
        Reason::Kill,
        Reason::Killed,
        Reason::NoProc,
        Reason::Panic("p".into()),
        Reason::Custom("c".into()),
    ] {
        assert_eq!(Reason::from(&ExitReason::from(&r)), r);
    }
}

#[test]
fn rows_and_metrics_come_back_as_the_runtime_types() {
    let r = row(5);
    let back = Row::from(&r.to_process_row());
    assert_eq!(back, r);
    let m = metrics();
    assert_eq!(Metrics::from(&m.to_runtime_metrics()), m);
    let p = chat().pool;
    assert_eq!(PoolFigures::from(&p.to_pool_metrics()), p);
    assert!(matches!(
        WireEventKind::Spawned {
            parent: None,
            kind: 200,
            label: None
        },
        WireEventKind::Spawned { .. }
    ));
}

#[test]
fn the_error_and_hello_frames_keep_their_variant_numbers() {
    // Observers of any version read these two, so their first byte must never change.
    assert_eq!(encode(&every_frame()[0]).unwrap()[4], 0);
    assert_eq!(encode(&every_frame()[1]).unwrap()[4], 1);
}

#[test]
fn an_oversized_length_is_refused_before_anything_is_read() {
    let mut bytes = (u32::MAX).to_le_bytes().to_vec();
    bytes.extend([0u8; 16]);
    match read_frame::<Request>(&mut Cursor::new(bytes), MAX_REQUEST) {
        Err(CodecError::Oversized { len, max }) => {
            assert_eq!(len, u32::MAX as usize);
            assert_eq!(max, MAX_REQUEST);
        }
        other => panic!("expected oversized, got {other:?}"),
    }
}

#[test]
fn trailing_bytes_in_a_frame_are_malformed() {
    let mut bytes = encode(&every_request()[0]).unwrap();
    bytes.push(0);
    let len = (bytes.len() - 4) as u32;
    bytes[..4].copy_from_slice(&len.to_le_bytes());
    assert!(matches!(
        read_frame::<Request>(&mut Cursor::new(bytes), MAX_REQUEST),
        Err(CodecError::Malformed(_))
    ));
}

#[test]
fn handshakes_round_trip_and_bad_magic_is_told() {
    let mut buf = Vec::new();
    write_handshake(&mut buf, VERSION, "secret").unwrap();
    assert_eq!(&buf[..6], &MAGIC);
    let hs = read_handshake(&mut Cursor::new(&buf)).unwrap();
    assert_eq!((hs.version, hs.token.as_str()), (VERSION, "secret"));
    buf[0] = b'X';
    assert!(matches!(
        read_handshake(&mut Cursor::new(&buf)),
        Err(CodecError::BadMagic)
    ));
    let mut long = MAGIC.to_vec();
    long.extend(VERSION.to_le_bytes());
    long.extend(60_000u16.to_le_bytes());
    assert!(matches!(
        read_handshake(&mut Cursor::new(long)),
        Err(CodecError::Oversized { .. })
    ));
}

/// Runs every decoder over `bytes`; none may panic (errors are fine).
fn decode_everything(bytes: &[u8]) {
    let _ = decode::<Frame>(bytes);
    let _ = decode::<Request>(bytes);
    let _ = decode_prefixed::<Frame>(bytes, 1 << 20);
    let _ = decode_prefixed::<Request>(bytes, MAX_REQUEST);
    let _ = read_frame::<Frame>(&mut Cursor::new(bytes), 1 << 20);
    let _ = read_handshake(&mut Cursor::new(bytes));
    if let Ok(Frame::Events(batch)) = decode::<Frame>(bytes) {
        for e in &batch.events {
            let _ = e.to_event();
        }
    }
    if let Ok(Frame::Keyframe(k)) = decode::<Frame>(bytes) {
        for r in &k.rows {
            let _ = r.to_process_row();
        }
        let _ = k.metrics.to_runtime_metrics();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4_000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic_a_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        decode_everything(&bytes);
    }

    #[test]
    fn mutated_valid_frames_never_panic_a_decoder(
        which in 0usize..16,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..4), 1..8),
    ) {
        let frames = every_frame();
        let requests = every_request();
        let mut bytes = if which < frames.len() {
            encode(&frames[which]).unwrap()
        } else {
            encode(&requests[which % requests.len()]).unwrap()
        };
        for (at, value, how) in edits {
            if bytes.is_empty() {
                bytes.push(value);
                continue;
            }
            let i = at % bytes.len();
            match how {
                0 => bytes[i] = value,
                1 => bytes.truncate(i),
                2 => bytes.insert(i, value),
                _ => { bytes.remove(i); }
            }
        }
        decode_everything(&bytes);
        if bytes.len() > 4 {
            decode_everything(&bytes[4..]);
        }
    }
}
