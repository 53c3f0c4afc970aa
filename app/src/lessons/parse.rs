//! Reads one lesson file: `+++`-fenced TOML blocks with CommonMark after each, checked against
//! the format. Every problem is reported as `file:line:col: message`, all of them at once.

use std::fmt;
use std::time::Duration;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::model::{
    is_metric, parse_kind, Action, BandStrategy, Bound, Check, EventCheck, EventName, Lesson, Op,
    Predict, SignalReason, Step, Target, FAULTS,
};

/// One problem in a lesson file, at a 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.col, self.message
        )
    }
}

/// The line that opens and closes every TOML block.
const FENCE: &str = "+++";
/// The line that hides the rest of a step's prose until its check holds.
const AFTER: &str = "<!-- after -->";

/// Parses and validates the lesson in `text`, named `file` in messages.
pub fn parse_lesson(file: &str, text: &str) -> Result<Lesson, Vec<Problem>> {
    let src = Source::new(file, text);
    let mut p = Parser {
        src: &src,
        problems: Vec::new(),
    };
    let lesson = p.lesson();
    match lesson {
        Some(lesson) if p.problems.is_empty() => Ok(lesson),
        _ => {
            let mut problems = p.problems;
            if problems.is_empty() {
                problems.push(src.problem(0, "the lesson could not be read"));
            }
            problems.sort_by_key(|p| (p.line, p.col));
            Err(problems)
        }
    }
}

/// The file's text with its line starts, to turn byte offsets into line:col.
struct Source<'a> {
    file: &'a str,
    text: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> Source<'a> {
    fn new(file: &'a str, text: &'a str) -> Source<'a> {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Source {
            file,
            text,
            line_starts,
        }
    }

    fn problem(&self, offset: usize, message: impl Into<String>) -> Problem {
        let line = self.line_starts.partition_point(|&s| s <= offset).max(1);
        let start = self.line_starts[line - 1];
        let col = self
            .text
            .get(start..offset.min(self.text.len()))
            .map_or(1, |s| s.chars().count() + 1);
        Problem {
            file: self.file.to_string(),
            line,
            col,
            message: message.into(),
        }
    }

    /// Lines as (byte offset, text without the line break).
    fn lines(&self) -> impl Iterator<Item = (usize, &'a str)> + '_ {
        self.line_starts.iter().filter_map(|&start| {
            if start > self.text.len() || (start == self.text.len() && start != 0) {
                return None;
            }
            let rest = &self.text[start..];
            let line = rest.split('\n').next().unwrap_or("");
            Some((start, line.strip_suffix('\r').unwrap_or(line)))
        })
    }
}

/// A TOML block: where its text starts in the file, the text, and its opening fence.
struct Block<'a> {
    fence: usize,
    start: usize,
    text: &'a str,
}

struct Parser<'s, 'a> {
    src: &'s Source<'a>,
    problems: Vec<Problem>,
}

/// A table being read, with the keys seen so far (to report unknown ones).
struct Table<'t, 'i> {
    table: &'t DeTable<'i>,
    /// File offset of the block's text (spans inside are relative to it).
    base: usize,
    /// Where to point when a required key is missing.
    at: usize,
    what: &'static str,
    seen: Vec<&'static str>,
}

impl<'a> Parser<'_, 'a> {
    fn err(&mut self, offset: usize, message: impl Into<String>) {
        self.problems.push(self.src.problem(offset, message));
    }

    fn lesson(&mut self) -> Option<Lesson> {
        let text = self.src.text;
        let fences: Vec<usize> = self
            .src
            .lines()
            .filter(|(_, l)| *l == FENCE)
            .map(|(o, _)| o)
            .collect();
        let first_content = self.src.lines().find(|(_, l)| !l.trim().is_empty());
        match first_content {
            None => {
                self.err(
                    0,
                    "the file is empty; a lesson starts with a `+++` header block",
                );
                return None;
            }
            Some((o, l)) if l != FENCE => {
                self.err(
                    o,
                    "a lesson starts with a `+++` line opening its TOML header (id, title, minutes, summary)",
                );
                return None;
            }
            _ => {}
        }
        if fences.len() % 2 == 1 {
            let last = fences[fences.len() - 1];
            self.err(
                last,
                "this `+++` opens a TOML block that is never closed by another `+++` line",
            );
            return None;
        }
        let line_end = |o: usize| text[o..].find('\n').map_or(text.len(), |i| o + i + 1);
        let mut blocks = Vec::new();
        let mut prose = Vec::new();
        for (i, pair) in fences.chunks(2).enumerate() {
            let (open, close) = (pair[0], pair[1]);
            let start = line_end(open);
            blocks.push(Block {
                fence: open,
                start,
                text: &text[start..close],
            });
            let prose_start = line_end(close);
            let prose_end = fences.get(2 * i + 2).copied().unwrap_or(text.len());
            prose.push((prose_start, &text[prose_start.min(prose_end)..prose_end]));
        }

        let header = self.header(&blocks[0]);
        let intro = prose[0].1.trim().to_string();
        let mut steps = Vec::new();
        let mut step_ids: Vec<String> = Vec::new();
        let mut done_at = None;
        let count = blocks.len() - 1;
        for (i, block) in blocks.iter().enumerate().skip(1) {
            let (prose_start, body) = prose[i];
            if let Some(step) = self.step(block, prose_start, body) {
                if step_ids.contains(&step.id) {
                    self.err(
                        block.fence,
                        format!("step id {:?} is used twice in this lesson", step.id),
                    );
                }
                step_ids.push(step.id.clone());
                if step.check == Check::Done {
                    if done_at.is_some() || i != count {
                        self.err(
                            block.fence,
                            "a `done` check may only complete the last step, once per lesson",
                        );
                    }
                    done_at = Some(i);
                }
                steps.push(step);
            }
        }
        if count == 0 {
            self.err(
                blocks[0].fence,
                "the lesson has no steps: add a `+++` block with a [check] after the introduction",
            );
        }
        let (id, title, minutes, summary) = header?;
        if steps.len() != count {
            return None;
        }
        Some(Lesson {
            file: self.src.file.to_string(),
            id,
            title,
            minutes,
            summary,
            intro,
            steps,
        })
    }

    /// Parses a block's TOML, reporting syntax errors at their position.
    fn toml<'b>(&mut self, block: &Block<'b>) -> Option<Spanned<DeTable<'b>>> {
        match DeTable::parse(block.text) {
            Ok(t) => Some(t),
            Err(e) => {
                let at = e.span().map_or(block.fence, |s| block.start + s.start);
                let msg = e.message().trim().to_string();
                self.err(at, format!("TOML: {msg}"));
                None
            }
        }
    }

    fn header(&mut self, block: &Block<'_>) -> Option<(String, String, u32, String)> {
        let doc = self.toml(block)?;
        let mut t = Table::new(doc.get_ref(), block.start, block.fence, "the lesson header");
        let id = self.ident(&mut t, "id");
        let title = self.string(&mut t, "title", true);
        let minutes = self.int(&mut t, "minutes", true, 5, 15);
        let summary = self.string(&mut t, "summary", true);
        self.unknown(&t, "the lesson header");
        Some((id?, title?, minutes? as u32, summary?))
    }

    fn step(&mut self, block: &Block<'_>, prose_start: usize, body: &str) -> Option<Step> {
        let (before, after) = split_after(body);
        let doc = self.toml(block)?;
        let mut t = Table::new(doc.get_ref(), block.start, block.fence, "a step");
        let id = self.ident(&mut t, "id");
        let title = self.string(&mut t, "title", true);
        let show = t
            .take("show")
            .and_then(|v| self.table_of(v, block.start, "show"))
            .and_then(|(mut s, at)| {
                let target = self.target(&mut s, at, "show");
                self.unknown(&s, "show");
                target
            });
        let hints = match t.take("hints") {
            None => Vec::new(),
            Some(v) => self
                .strings(v, block.start, "hints", 1, 4)
                .unwrap_or_default(),
        };
        let predict = match t.take("predict") {
            None => None,
            Some(v) => self
                .table_of(v, block.start, "[predict]")
                .and_then(|(mut p, _)| {
                    let question = self.string(&mut p, "question", true);
                    let answers = p
                        .take("answers")
                        .and_then(|v| self.strings(v, block.start, "answers", 2, 4));
                    if answers.is_none() && !p.has("answers") {
                        self.err(p.at, "[predict] needs `answers`: a list of 2 to 4 strings");
                    }
                    self.unknown(&p, "[predict]");
                    Some(Predict {
                        question: question?,
                        answers: answers?,
                    })
                }),
        };
        let actions = match t.take("action") {
            None => Some(Vec::new()),
            Some(v) => self.actions(v, block.start),
        };
        let check = match t.take("check") {
            None => {
                self.err(
                    block.fence,
                    "this step has no [check]: every step needs exactly one (event, metric, quiz or done)",
                );
                None
            }
            Some(v) => self
                .table_of(v, block.start, "[check]")
                .and_then(|(mut c, _)| self.check(&mut c)),
        };
        self.unknown(&t, "a step");
        for (offset, name) in placeholders(body) {
            if !is_metric(name) {
                self.err(
                    prose_start + offset,
                    format!("unknown metric {name:?} in a live figure `{{{{{name}}}}}`"),
                );
            }
        }
        Some(Step {
            id: id?,
            title: title?,
            show,
            hints,
            predict,
            actions: actions?,
            check: check?,
            before,
            after,
        })
    }

    fn actions(&mut self, v: &Spanned<DeValue<'_>>, base: usize) -> Option<Vec<Action>> {
        let Some(list) = v.get_ref().as_array() else {
            self.err(
                base + v.span().start,
                "`action` must be written as [[action]] tables",
            );
            return None;
        };
        if list.len() > 4 {
            self.err(base + v.span().start, "a step has at most 4 actions");
        }
        let mut out = Vec::new();
        let mut ok = true;
        for item in list.iter() {
            match self.table_of(item, base, "[[action]]") {
                Some((mut a, _)) => match self.action(&mut a) {
                    Some(action) => out.push(action),
                    None => ok = false,
                },
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// The required string that says what a table is (`do` of an action, `kind` of a check),
    /// with its position; `missing` is the problem reported when it is absent.
    fn tag(
        &mut self,
        t: &mut Table<'_, '_>,
        key: &'static str,
        missing: &str,
    ) -> Option<(usize, String)> {
        let Some(v) = t.take(key) else {
            self.err(t.at, missing);
            return None;
        };
        let at = t.base + v.span().start;
        match v.get_ref().as_str() {
            Some(s) => Some((at, s.to_string())),
            None => {
                self.err(at, format!("`{key}` must be a string"));
                None
            }
        }
    }

    fn action(&mut self, a: &mut Table<'_, '_>) -> Option<Action> {
        let label = self.string(a, "label", true);
        let (do_at, what) = self.tag(a, "do", "[[action]] needs `do`: what the button does")?;
        let op = match what.as_str() {
            "spawn_idle" => self
                .int(a, "count", true, 1, 200_000)
                .map(|count| Op::SpawnIdle {
                    count: count as usize,
                }),
            "stop_spawned" => Some(Op::StopSpawned),
            "open_chat" => Some(Op::OpenChat {
                room: self
                    .string(a, "room", false)
                    .unwrap_or_else(|| "lobby".into()),
            }),
            "kill" => self.target(a, do_at, "kill").map(Op::Kill),
            "crash" => self.target(a, do_at, "crash").map(Op::Crash),
            "exit" => {
                let target = self.target(a, do_at, "exit");
                let reason = self.choice(a, "reason", &["normal", "shutdown", "kill"]);
                let reason = reason.map(|r| match r {
                    0 => SignalReason::Normal,
                    1 => SignalReason::Shutdown,
                    _ => SignalReason::Kill,
                });
                Some(Op::Exit {
                    target: target?,
                    reason: reason?,
                })
            }
            "start_band" => {
                let strategy = self.choice(
                    a,
                    "strategy",
                    &["one_for_one", "rest_for_one", "one_for_all"],
                );
                let max_restarts = opt(a, "max_restarts")
                    .map_or(Some(3), |_| self.int(a, "max_restarts", true, 0, 1000));
                let max_seconds = opt(a, "max_seconds")
                    .map_or(Some(5), |_| self.int(a, "max_seconds", true, 1, 3600));
                Some(Op::StartBand {
                    strategy: match strategy? {
                        0 => BandStrategy::OneForOne,
                        1 => BandStrategy::RestForOne,
                        _ => BandStrategy::OneForAll,
                    },
                    max_restarts: max_restarts? as u32,
                    max_seconds: max_seconds? as u32,
                })
            }
            "fault_on" | "fault_off" => self.choice(a, "fault", &FAULTS).map(|i| Op::Fault {
                fault: FAULTS[i].to_string(),
                on: what == "fault_on",
            }),
            "chaos" => {
                let per_second = self.number(a, "per_second", true);
                let seconds = self.number(a, "seconds", true);
                let kinds = match a.take("kinds") {
                    None => {
                        self.err(a.at, "`chaos` needs `kinds`: a list of process kinds");
                        None
                    }
                    Some(v) => self.strings(v, a.base, "kinds", 1, 12).and_then(|names| {
                        let mut kinds = Vec::new();
                        for n in names {
                            match parse_kind(&n) {
                                Some(k) => kinds.push(k),
                                None => {
                                    self.err(
                                        a.base + v.span().start,
                                        format!("unknown process kind {n:?}"),
                                    );
                                    return None;
                                }
                            }
                        }
                        Some(kinds)
                    }),
                };
                Some(Op::Chaos {
                    per_second: positive(self, a, "per_second", per_second?)?,
                    seconds: positive(self, a, "seconds", seconds?)?,
                    kinds: kinds?,
                })
            }
            "start_users" => {
                let clients = self.int(a, "clients", true, 1, 20_000);
                let ramp_per_s = self.number(a, "ramp_per_s", false);
                let rate_per_s = self.number(a, "rate_per_s", false);
                let arrival_rate = self.number(a, "arrival_rate", false);
                let seconds = self.number(a, "seconds", true);
                let room = self
                    .string(a, "room", false)
                    .unwrap_or_else(|| "lobby".into());
                let slow_ms =
                    opt(a, "slow_ms").and_then(|_| self.int(a, "slow_ms", true, 1, 60_000));
                Some(Op::StartUsers {
                    clients: clients? as usize,
                    ramp_per_s,
                    rate_per_s,
                    arrival_rate,
                    seconds: positive(self, a, "seconds", seconds?)?,
                    room,
                    slow_ms: slow_ms.map(|v| v as u64),
                })
            }
            "stop_users" => Some(Op::StopUsers),
            "broadcast" => {
                let room = self.string(a, "room", true);
                let text = self.string(a, "text", true);
                Some(Op::Broadcast {
                    room: room?,
                    text: text?,
                })
            }
            "contrast" => {
                let users = self.int(a, "users", true, 1, 20_000);
                let work_ms = self.int(a, "work_ms", true, 0, 60_000);
                let seconds = self.number(a, "seconds", true);
                Some(Op::Contrast {
                    users: users? as usize,
                    work_ms: work_ms? as u64,
                    seconds: positive(self, a, "seconds", seconds?)?,
                })
            }
            "pool" => {
                let size = opt(a, "size").and_then(|_| self.int(a, "size", true, 1, 64));
                let target = opt(a, "queue_target_ms")
                    .and_then(|_| self.int(a, "queue_target_ms", true, 1, 60_000));
                let interval = opt(a, "queue_interval_ms")
                    .and_then(|_| self.int(a, "queue_interval_ms", true, 1, 600_000));
                Some(Op::Pool {
                    size: size.map(|v| v as usize),
                    queue_target_ms: target.map(|v| v as u64),
                    queue_interval_ms: interval.map(|v| v as u64),
                })
            }
            "console" => self
                .string(a, "command", true)
                .map(|command| Op::Console { command }),
            other => {
                self.err(
                    do_at,
                    format!(
                        "unknown action {other:?}; known: spawn_idle, stop_spawned, open_chat, kill, crash, exit, start_band, fault_on, fault_off, chaos, start_users, stop_users, broadcast, contrast, pool, console"
                    ),
                );
                return None;
            }
        };
        self.unknown(a, &format!("action {what:?}"));
        Some(Action {
            label: label?,
            op: op?,
        })
    }

    fn check(&mut self, c: &mut Table<'_, '_>) -> Option<Check> {
        let (kind_at, kind) = self.tag(
            c,
            "kind",
            "[check] needs `kind`: event, metric, quiz or done",
        )?;
        let check = match kind.as_str() {
            "event" => {
                let event = self.choice(c, "event", &EventName::ALL.map(|e| e.name()));
                let name = self.string(c, "name", false);
                let kind_of = match c.take("kind_of") {
                    None => Some(None),
                    Some(v) => match v.get_ref().as_str().and_then(parse_kind) {
                        Some(k) => Some(Some(k)),
                        None => {
                            self.err(c.base + v.span().start, "`kind_of` must name a process kind (e.g. \"channel\", \"pool_connection\")");
                            None
                        }
                    },
                };
                let label = self.string(c, "label", false);
                let reason = self.string(c, "reason", false);
                let count =
                    opt(c, "count").map_or(Some(1), |_| self.int(c, "count", true, 1, 1_000_000));
                let within = self.duration(c, "within");
                Some(Check::Event(EventCheck {
                    event: EventName::ALL[event?],
                    name,
                    kind_of: kind_of?,
                    label,
                    reason,
                    count: count? as u32,
                    within: within?,
                }))
            }
            "metric" => {
                let metric = match c.take("metric") {
                    None => {
                        self.err(c.at, "a metric check needs `metric`");
                        None
                    }
                    Some(v) => match v.get_ref().as_str() {
                        Some(m) if is_metric(m) => Some(m.to_string()),
                        Some(m) => {
                            self.err(c.base + v.span().start, format!("unknown metric {m:?}"));
                            None
                        }
                        None => {
                            self.err(c.base + v.span().start, "`metric` must be a string");
                            None
                        }
                    },
                };
                let above = self.number(c, "above", false);
                let below = self.number(c, "below", false);
                let bound = match (above, below) {
                    (Some(a), None) => Some(Bound::Above(a)),
                    (None, Some(b)) => Some(Bound::Below(b)),
                    _ => {
                        self.err(
                            c.at,
                            "a metric check needs exactly one of `above` or `below`",
                        );
                        None
                    }
                };
                let hold = self.duration(c, "for");
                Some(Check::Metric {
                    metric: metric?,
                    bound: bound?,
                    hold: hold?.unwrap_or(Duration::ZERO),
                })
            }
            "quiz" => {
                let question = self.string(c, "question", true);
                let answers = match c.take("answers") {
                    None => {
                        self.err(c.at, "a quiz needs `answers`: a list of 2 to 4 strings");
                        None
                    }
                    Some(v) => self.strings(v, c.base, "answers", 2, 4),
                };
                let correct = self.int(c, "correct", true, 0, 3);
                let explain = self.string(c, "explain", false);
                if let (Some(a), Some(k)) = (&answers, correct) {
                    if k as usize >= a.len() {
                        self.err(
                            c.at,
                            format!(
                                "`correct` = {k} but there are only {} answers (0-based)",
                                a.len()
                            ),
                        );
                        return None;
                    }
                }
                Some(Check::Quiz {
                    question: question?,
                    answers: answers?,
                    correct: correct? as usize,
                    explain,
                })
            }
            "done" => Some(Check::Done),
            other => {
                self.err(
                    kind_at,
                    format!("unknown check kind {other:?}; known: event, metric, quiz, done"),
                );
                return None;
            }
        };
        self.unknown(c, &format!("a {kind} check"));
        check
    }

    // -- small readers --

    fn table_of<'t, 'i>(
        &mut self,
        v: &'t Spanned<DeValue<'i>>,
        base: usize,
        what: &'static str,
    ) -> Option<(Table<'t, 'i>, usize)> {
        let at = base + v.span().start;
        match v.get_ref().as_table() {
            Some(t) => Some((Table::new(t, base, at, what), at)),
            None => {
                self.err(at, format!("`{what}` must be a table"));
                None
            }
        }
    }

    fn ident(&mut self, t: &mut Table<'_, '_>, key: &'static str) -> Option<String> {
        let (at, s) = self.located_string(t, key, true)?;
        if s.is_empty()
            || !s
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        {
            self.err(at, format!("`{key}` must be made of a-z, 0-9, '-' and '_'"));
            return None;
        }
        Some(s)
    }

    fn string(
        &mut self,
        t: &mut Table<'_, '_>,
        key: &'static str,
        required: bool,
    ) -> Option<String> {
        self.located_string(t, key, required).map(|(_, s)| s)
    }

    fn located_string(
        &mut self,
        t: &mut Table<'_, '_>,
        key: &'static str,
        required: bool,
    ) -> Option<(usize, String)> {
        match t.take(key) {
            None => {
                if required {
                    self.err(t.at, format!("{} needs `{key}`", t.what));
                }
                None
            }
            Some(v) => {
                let at = t.base + v.span().start;
                match v.get_ref().as_str() {
                    Some(s) if !s.trim().is_empty() => Some((at, s.to_string())),
                    Some(_) => {
                        self.err(at, format!("`{key}` must not be empty"));
                        None
                    }
                    None => {
                        self.err(at, format!("`{key}` must be a string"));
                        None
                    }
                }
            }
        }
    }

    fn int(
        &mut self,
        t: &mut Table<'_, '_>,
        key: &'static str,
        required: bool,
        min: i64,
        max: i64,
    ) -> Option<i64> {
        match t.take(key) {
            None => {
                if required {
                    self.err(t.at, format!("{} needs `{key}`", t.what));
                }
                None
            }
            Some(v) => {
                let at = t.base + v.span().start;
                let n = v
                    .get_ref()
                    .as_integer()
                    .and_then(|i| i64::from_str_radix(i.as_str(), i.radix()).ok());
                match n {
                    Some(n) if (min..=max).contains(&n) => Some(n),
                    Some(n) => {
                        self.err(at, format!("`{key}` = {n} is out of range {min}..{max}"));
                        None
                    }
                    None => {
                        self.err(at, format!("`{key}` must be a whole number"));
                        None
                    }
                }
            }
        }
    }

    fn number(&mut self, t: &mut Table<'_, '_>, key: &'static str, required: bool) -> Option<f64> {
        match t.take(key) {
            None => {
                if required {
                    self.err(t.at, format!("{} needs `{key}`", t.what));
                }
                None
            }
            Some(v) => {
                let at = t.base + v.span().start;
                let n = match v.get_ref() {
                    DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
                        .ok()
                        .map(|n| n as f64),
                    DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok(),
                    _ => None,
                };
                if n.is_none() {
                    self.err(at, format!("`{key}` must be a number"));
                }
                n
            }
        }
    }

    fn choice(
        &mut self,
        t: &mut Table<'_, '_>,
        key: &'static str,
        options: &[&str],
    ) -> Option<usize> {
        let (at, s) = self.located_string(t, key, true)?;
        let found = options.iter().position(|o| *o == s);
        if found.is_none() {
            self.err(
                at,
                format!("unknown {key} {s:?}; one of: {}", options.join(", ")),
            );
        }
        found
    }

    fn duration(&mut self, t: &mut Table<'_, '_>, key: &'static str) -> Option<Option<Duration>> {
        let Some(v) = t.take(key) else {
            return Some(None);
        };
        let at = t.base + v.span().start;
        match v.get_ref().as_str().and_then(parse_duration) {
            Some(d) => Some(Some(d)),
            None => {
                self.err(
                    at,
                    format!("`{key}` must be a duration string like \"5s\" or \"500ms\""),
                );
                None
            }
        }
    }

    fn strings(
        &mut self,
        v: &Spanned<DeValue<'_>>,
        base: usize,
        key: &str,
        min: usize,
        max: usize,
    ) -> Option<Vec<String>> {
        let at = base + v.span().start;
        let list: Option<Vec<String>> = v.get_ref().as_array().and_then(|a| {
            a.iter()
                .map(|s| s.get_ref().as_str().map(str::to_string))
                .collect()
        });
        match list {
            Some(l) if (min..=max).contains(&l.len()) => Some(l),
            Some(l) => {
                self.err(
                    at,
                    format!("`{key}` has {} entries; it takes {min} to {max}", l.len()),
                );
                None
            }
            None => {
                self.err(at, format!("`{key}` must be a list of strings"));
                None
            }
        }
    }

    /// The process a `show` or an action points at. In an action `label` is the button's
    /// own text, so a process label is given there as `target_label`.
    fn target(&mut self, t: &mut Table<'_, '_>, at: usize, what: &str) -> Option<Target> {
        let label_key = if what == "show" {
            "label"
        } else {
            "target_label"
        };
        let name = self.string(t, "name", false);
        let kind_at = t.peek("kind");
        let kind = self.string(t, "kind", false);
        let label = self.string(t, label_key, false);
        match (name, kind, label) {
            (Some(n), None, None) => Some(Target::Name(n)),
            (None, Some(k), None) => match parse_kind(&k) {
                Some(k) => Some(Target::Kind(k)),
                None => {
                    self.err(kind_at.unwrap_or(at), format!("unknown process kind {k:?}"));
                    None
                }
            },
            (None, None, Some(l)) => Some(Target::Label(l)),
            _ => {
                self.err(
                    at,
                    format!("`{what}` needs exactly one of `name`, `kind` or `{label_key}`"),
                );
                None
            }
        }
    }

    fn unknown(&mut self, t: &Table<'_, '_>, what: &str) {
        for (k, _) in t.table.iter() {
            if !t.seen.contains(&k.get_ref().as_ref()) {
                self.err(
                    t.base + k.span().start,
                    format!("unknown key `{}` in {what}", k.get_ref()),
                );
            }
        }
    }
}

impl<'t, 'i> Table<'t, 'i> {
    fn new(table: &'t DeTable<'i>, base: usize, at: usize, what: &'static str) -> Self {
        Table {
            table,
            base,
            at,
            what,
            seen: Vec::new(),
        }
    }

    fn take(&mut self, key: &'static str) -> Option<&'t Spanned<DeValue<'i>>> {
        self.seen.push(key);
        self.table.get(key)
    }

    fn has(&self, key: &str) -> bool {
        self.table.contains_key(key)
    }

    fn peek(&self, key: &str) -> Option<usize> {
        self.table.get(key).map(|v| self.base + v.span().start)
    }
}

/// `Some(())` if the action table has `key` (for optional parameters with their own checks).
fn opt(t: &Table<'_, '_>, key: &str) -> Option<()> {
    t.has(key).then_some(())
}

fn positive(p: &mut Parser<'_, '_>, t: &Table<'_, '_>, key: &str, v: f64) -> Option<f64> {
    if v > 0.0 && v.is_finite() {
        Some(v)
    } else {
        let at = t.peek(key).unwrap_or(t.at);
        p.err(at, format!("`{key}` must be above 0"));
        None
    }
}

/// Splits a step's prose at the `<!-- after -->` line.
fn split_after(body: &str) -> (String, String) {
    let mut before = String::new();
    let mut after = String::new();
    let mut seen = false;
    for line in body.split_inclusive('\n') {
        if !seen && line.trim_end() == AFTER {
            seen = true;
            continue;
        }
        if seen {
            after.push_str(line);
        } else {
            before.push_str(line);
        }
    }
    (before.trim().to_string(), after.trim().to_string())
}

/// The `{{metric}}` live figures in `text`: (byte offset, name).
pub fn placeholders(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(open) = text[from..].find("{{") {
        let start = from + open + 2;
        let Some(close) = text[start..].find("}}") else {
            break;
        };
        let name = text[start..start + close].trim();
        if !name.is_empty() && !name.contains(char::is_whitespace) && name.len() < 64 {
            out.push((from + open, name));
        }
        from = start + close + 2;
    }
    out
}

/// `"5s"`, `"500ms"`, `"2m"`, `"0s"`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return None,
    };
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"+++
id = "t"
title = "T"
minutes = 5
summary = "S."
+++

Intro.

+++
id = "one"
title = "One"
hints = ["a"]

[predict]
question = "Q?"
answers = ["x", "y"]

[[action]]
label = "Crash a channel"
do = "crash"
kind = "channel"

[check]
kind = "event"
event = "exited"
kind_of = "channel"
+++

Before {{processes}}.

<!-- after -->

After.
"#;

    #[test]
    fn a_good_lesson_parses_into_steps_with_prose_split_at_the_marker() {
        let lesson = parse_lesson("t.md", GOOD).unwrap_or_else(|p| panic!("{p:?}"));
        assert_eq!(lesson.intro, "Intro.");
        let step = &lesson.steps[0];
        assert_eq!(
            step.actions[0].op,
            Op::Crash(Target::Kind(crashcourse_runtime::Kind::Channel))
        );
        assert_eq!(step.before, "Before {{processes}}.");
        assert_eq!(step.after, "After.");
    }

    #[test]
    fn problems_point_at_the_line_and_column() {
        let bad = GOOD.replace("do = \"crash\"", "do = \"explode\"");
        let problems = parse_lesson("t.md", &bad).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!((problems[0].line, problems[0].col), (21, 6));
        assert!(problems[0]
            .to_string()
            .starts_with("t.md:21:6: unknown action \"explode\""));
    }
}
