//! `crashcourse serve --observer` and `--record`, and `crashcourse console --attach`, as a user
//! runs them: the token printed at start, two observers of which one sends garbage and is cut
//! off while the other keeps its stream and the chat keeps serving, a wrong token refused,
//! `count` and `kill <pid>` answered from the terminal, and a recording read back.

mod support;

use std::io::{BufRead, BufReader, Write as _};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use crashcourse_runtime::stream::frames::{kind_of, Row};
use crashcourse_runtime::stream::{
    ClientError, ErrorCode, Frame, ObserverClient, Recording, StreamState,
};
use crashcourse_runtime::Kind;
use support::{Client, DEADLINE};

/// A `serve` child on free ports with its own database, and what it printed at start.
struct Node {
    child: Child,
    out: BufReader<ChildStdout>,
    ws: std::net::SocketAddr,
    observer: Option<String>,
    token: Option<String>,
    /// What it said about recording.
    recording: Option<String>,
    _dir: tempfile::TempDir,
}

fn serve(extra: &[&str]) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_crashcourse"))
        .arg("serve")
        .arg("--db")
        .arg(dir.path().join("chat.db"))
        .args(["--http-port", "0", "--ws-port", "0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run crashcourse serve");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words.first(), Some(&"listening"), "{line}");
    let ws = words[2]
        .trim_start_matches("ws://")
        .trim_end_matches("/socket/websocket")
        .parse()
        .unwrap();
    let (mut observer, mut token, mut recording) = (None, None, None);
    if extra.contains(&"--observer") {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        // observer 127.0.0.1:P token T, or observer 127.0.0.1:P token-file FILE
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words.len(), 4, "{line}");
        assert_eq!(words[0], "observer", "{line}");
        assert!(words[1].starts_with("127.0.0.1:"), "{line}");
        observer = Some(words[1].to_string());
        if words[2] == "token" {
            assert_eq!(words[3].len(), 32, "a 128-bit token in hex: {line}");
            token = Some(words[3].to_string());
        } else {
            assert_eq!(words[2], "token-file", "{line}");
        }
    }
    if extra.contains(&"--record") {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        recording = Some(line);
    }
    Node {
        child,
        out,
        ws,
        observer,
        token,
        recording,
        _dir: dir,
    }
}

impl Node {
    fn attach(&self) -> Result<ObserverClient, ClientError> {
        ObserverClient::connect(
            self.observer.as_deref().unwrap(),
            self.token.as_deref().unwrap(),
            Duration::from_secs(5),
        )
    }

    /// Ctrl-C, and the rest of what it printed.
    fn stop(mut self) -> String {
        let sent = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert_eq!(status.code(), Some(0));
                break;
            }
            assert!(Instant::now() < deadline, "serve did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut self.out, &mut rest);
        rest
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `row` is the room process of `topic` (registered under its topic).
fn is_room(row: &Row, topic: &str) -> bool {
    kind_of(row.kind) == Kind::Room && row.name.as_deref() == Some(topic)
}

/// Follows the stream until `done` holds.
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
        match c.next_frame() {
            Ok(Frame::Error(e)) => panic!("error while waiting until {what}: {e}"),
            Ok(f) => state.apply(&f),
            Err(e) => panic!("the stream ended while waiting until {what}: {e}"),
        }
    }
}

fn console(node: &Node, token: &str, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crashcourse"))
        .args([
            "console",
            "--attach",
            node.observer.as_deref().unwrap(),
            "--token",
            token,
        ])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run crashcourse console");
    {
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_garbage_sending_observer_is_cut_off_while_the_other_and_the_chat_go_on() {
    let node = serve(&["--observer", "127.0.0.1:0"]);
    let mut good = node.attach().unwrap();
    let mut bad = node.attach().unwrap();
    let mut state = StreamState::default();
    follow(&mut good, &mut state, "a whole table", |s| {
        s.whole && !s.rows.is_empty()
    });

    bad.send_raw(b"\x05\x00\x00\x00garbage and more").unwrap();
    bad.set_timeout(Some(DEADLINE)).unwrap();
    let error = loop {
        match bad.next_frame() {
            Ok(Frame::Error(e)) => break e,
            Ok(_) => {}
            Err(e) => panic!("cut off without an error frame: {e}"),
        }
    };
    assert_eq!(error.code, ErrorCode::Malformed, "{error:?}");
    assert!(
        bad.next_frame().is_err(),
        "the connection is closed after the error"
    );

    // The chat keeps serving, and the good observer sees its new processes.
    let before: usize = state.rows.len();
    let mut c = Client::connect(node.ws, "/socket/websocket?vsn=2.0.0", None).unwrap();
    c.join_ok("room:observed", "ada");
    follow(
        &mut good,
        &mut state,
        "the socket, channel and room appear",
        |s| s.rows.len() >= before + 3 && s.rows.values().any(|r| is_room(r, "room:observed")),
    );
    follow(&mut good, &mut state, "chat figures arrive", |s| {
        s.chat.as_ref().is_some_and(|c| c.joins >= 1)
    });

    // A wrong token is refused with a clear error; the good observer is untouched.
    match ObserverClient::connect(
        node.observer.as_deref().unwrap(),
        "wrong",
        Duration::from_secs(5),
    ) {
        Err(ClientError::Refused(e)) => {
            assert_eq!(e.code, ErrorCode::BadToken);
            assert!(e.message.contains("token"), "{}", e.message);
        }
        Err(e) => panic!("expected a refusal, got {e}"),
        Ok(_) => panic!("a wrong token was let in"),
    }
    good.set_timeout(Some(DEADLINE)).unwrap();
    assert!(good.next_frame().is_ok());
}

#[test]
fn console_attach_answers_count_and_kill_from_the_terminal() {
    let node = serve(&["--observer", "127.0.0.1:0"]);
    let token = node.token.clone().unwrap();
    let mut c = Client::connect(node.ws, "/socket/websocket?vsn=2.0.0", None).unwrap();
    c.join_ok("room:target", "ada");

    let (code, out, err) = console(&node, &token, &["count"], None);
    assert_eq!(code, 0, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("iex> ") && lines[0].contains("Process.list()"),
        "{out}"
    );
    let n: usize = lines[1]
        .strip_suffix(" processes")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a count: {out}"));
    assert!(n > 10, "{out}");

    // Find the room's pid from the stream, kill it from the terminal, see it go.
    let mut observer = node.attach().unwrap();
    let mut state = StreamState::default();
    follow(&mut observer, &mut state, "the room is in the table", |s| {
        s.rows.values().any(|r| is_room(r, "room:target"))
    });
    let room = state
        .rows
        .values()
        .find(|r| is_room(r, "room:target"))
        .unwrap()
        .pid;
    let pid = format!("<0.{room}.0>");
    let (code, out, err) = console(&node, &token, &["kill", &pid], None);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("iex> Process.exit("), "{out}");
    assert!(out.contains("sent kill"), "{out}");
    follow(&mut observer, &mut state, "the killed room is gone", |s| {
        !s.rows.contains_key(&room)
    });

    // Lines from stdin until its end; an unknown command is an error answer, exit code 1.
    let (code, out, _) = console(&node, &token, &[], Some("count\nhelp kill\nnosuch\n"));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(" processes"), "{out}");
    assert!(out.contains("unknown command `nosuch`"), "{out}");

    // A wrong token: a clear error and exit code 2.
    let (code, _, err) = console(&node, "wrong", &["count"], None);
    assert_eq!(code, 2);
    assert!(err.contains("wrong observer token"), "{err}");
}

#[test]
fn serve_refuses_an_observer_address_that_is_not_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_crashcourse"))
        .arg("serve")
        .arg("--db")
        .arg(dir.path().join("chat.db"))
        .args([
            "--http-port",
            "0",
            "--ws-port",
            "0",
            "--observer",
            "0.0.0.0:0",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("loopback only"), "{err}");
}

#[test]
fn serve_reads_the_token_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "from-the-file\n").unwrap();
    let mut node = serve(&[
        "--observer",
        "127.0.0.1:0",
        "--observer-token-file",
        file.to_str().unwrap(),
    ]);
    assert_eq!(node.token, None, "a token from a file is not printed");
    node.token = Some("from-the-file".into());
    assert!(node.attach().is_ok());
    node.token = Some("another".into());
    assert!(matches!(node.attach(), Err(ClientError::Refused(_))));
}

#[test]
fn serve_records_the_stream_and_the_recording_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("session.ccrec");
    let node = serve(&["--record", path.to_str().unwrap(), "--record-max", "5"]);
    let line = node.recording.clone().unwrap();
    assert!(
        line.starts_with("recording ") && line.contains("at most 5 MB"),
        "{line}"
    );
    let mut c = Client::connect(node.ws, "/socket/websocket?vsn=2.0.0", None).unwrap();
    c.join_ok("room:recorded", "ada");
    support::wait_until("a few frames are on disk", || {
        Recording::open(&path)
            .map(|r| r.len() >= 10)
            .unwrap_or(false)
    });
    let rest = node.stop();
    assert!(
        rest.contains("recorded ") && rest.contains(" frames"),
        "{rest}"
    );
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size <= 5_000_000);
    let mut r = Recording::open(&path).unwrap();
    assert!(r.keyframes() >= 1);
    let (_, last) = r.span().unwrap();
    let state = r.state_at(last).unwrap();
    assert!(state.whole);
    assert!(
        state.rows.values().any(|row| is_room(row, "room:recorded")),
        "the room is in the recorded table"
    );
}
