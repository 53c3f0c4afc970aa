//! `crashcourse load`'s command line: flags, the run with its progress, the summary, and the
//! exit code (99 when a threshold fails, as k6 does; 2 for a run that cannot start; 1 for a
//! contrast side that connects no user).

use std::io::Write;
use std::net::Ipv4Addr;
use std::time::Duration;

use clap::{Args, Parser};

use crate::contrast::{self, ContrastPlan};
use crate::plan::{Model, Plan, Target};
use crate::progress::{self, ProgressStyle};
use crate::threshold::Thresholds;
use crate::units;

/// Exit code when a threshold failed.
pub const EXIT_THRESHOLD_FAILED: i32 = 99;
/// Exit code when the run could not start (bad arguments).
pub const EXIT_BAD_RUN: i32 = 2;
/// Exit code of `--contrast` when a side could not connect a single user.
pub const EXIT_SIDE_FAILED: i32 = 1;

/// Drive a Phoenix Channels or HTTP server with many clients, k6-style.
///
/// Ends with a summary of how the server coped: counts, latency percentiles, errors by kind
/// and threshold verdicts.
///
/// WebSocket mode (ws://): each client joins room:<ROOM> with {"nick": ...}, heartbeats every
/// 30 s, and pushes new_msg {"body": ...}; replies are matched by ref and broadcasts counted. It
/// speaks only the public Phoenix Channels V2 JSON protocol, so it drives any Phoenix server.
/// HTTP mode (http://): each client sends GET requests over one HTTP/1.1 keep-alive connection.
///
/// Closed model (default): each client waits for its reply before the next send, at most
/// --rate per second. Open model (--arrival-rate): sends go out on schedule whatever the server
/// does and latency counts from the scheduled time, so a slowing server shows (coordinated
/// omission). Exit code: 0, or 99 when a threshold failed, 2 when the run cannot start, 1 when
/// a --contrast side connects no user.
#[derive(Args, Debug, Clone)]
#[command(verbatim_doc_comment)]
pub struct LoadArgs {
    /// ws://HOST:PORT/socket/websocket (Phoenix V2; /socket and ?vsn=2.0.0 are completed) or
    /// http://HOST:PORT/PATH, e.g. http://127.0.0.1:4000/api/slow?ms=100. IP addresses only.
    #[arg(long, default_value = "ws://127.0.0.1:4001/socket/websocket")]
    pub url: String,
    /// Virtual users, one socket each (at most 19,000 per process).
    #[arg(long, default_value_t = 10)]
    pub clients: usize,
    /// Users started per second, e.g. 100/s.
    #[arg(long, default_value = "100/s", value_parser = units::positive_per_second)]
    pub ramp: f64,
    /// How long sends go on, from the first connection (ramp included), e.g. 30s or 2m.
    #[arg(long, default_value = "30s", value_parser = units::duration)]
    pub duration: Duration,
    /// The room to join (topic room:<ROOM>); WebSocket mode.
    #[arg(long, default_value = "lobby")]
    pub room: String,
    /// Spread the clients over this many rooms (room:<ROOM>-0, room:<ROOM>-1, ...); 1 puts
    /// them all in room:<ROOM>. Every message is broadcast to its room's members.
    #[arg(long, default_value_t = 1)]
    pub rooms: usize,
    /// Closed model: messages (requests) per client per second, e.g. 2/s; 0 only connects and
    /// joins (WebSocket); max sends again as soon as the reply is in.
    #[arg(long, default_value = "1/s", value_parser = units::rate)]
    pub rate: units::Pace,
    /// Open model: messages (requests) per second across all clients, sent on schedule from
    /// the end of the ramp, e.g. 500/s.
    #[arg(long, value_parser = units::positive_per_second, conflicts_with = "rate")]
    pub arrival_rate: Option<f64>,
    /// Print the summary as one JSON object on stdout (progress still goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// Threshold: round-trip (request) latency p99 must be under this, e.g. 200ms.
    #[arg(long, value_parser = units::duration)]
    pub p99_under: Option<Duration>,
    /// Threshold: failed operations (connects, joins, messages not acknowledged) must be under
    /// this share of all operations, e.g. 1%.
    #[arg(long, value_parser = units::percent)]
    pub errors_under: Option<f64>,
    /// The longest any one wait lasts: connect, upgrade, join reply, message reply, response.
    #[arg(long, default_value = "10s", value_parser = units::duration)]
    pub timeout: Duration,
    /// After the duration, how long replies still in flight are waited for.
    #[arg(long, default_value = "2s", value_parser = units::duration)]
    pub drain: Duration,
    /// First loopback source address; every 10,000 clients take the next one. Give separate
    /// processes separate ranges (e.g. 127.0.0.2 and 127.0.0.4).
    #[arg(long, default_value = "127.0.0.2")]
    pub source: Ipv4Addr,
    /// Threads that run the clients (default: the number of cores, at most 8).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Show no progress.
    #[arg(long)]
    pub quiet: bool,
    /// WebSocket mode: send the event "slow" with {"ms": N} instead of new_msg; the server
    /// answers each after N ms from a process started for that one request (0 to 10000).
    #[arg(long)]
    pub slow_ms: Option<u64>,
    /// The thread-pool contrast: the same users against --http-url's /api/slow?ms=N (fixed
    /// handler threads) and --url's "slow" event (one process per request) at once, each user
    /// sending 1/s; prints both summaries side by side. N is --slow-ms (default 100).
    #[arg(long, conflicts_with_all = ["arrival_rate", "p99_under", "errors_under"])]
    pub contrast: bool,
    /// The HTTP side of --contrast.
    #[arg(long, default_value = "http://127.0.0.1:4000")]
    pub http_url: String,
}

impl LoadArgs {
    /// The run these flags ask for.
    pub fn plan(&self) -> Result<Plan, crate::PlanError> {
        let mut plan = Plan::new(Target::parse(&self.url)?);
        plan.clients = self.clients;
        plan.ramp = self.ramp;
        plan.duration = self.duration;
        plan.room = self.room.clone();
        plan.rooms = self.rooms;
        plan.model = match self.arrival_rate {
            Some(arrival_rate) => Model::Open { arrival_rate },
            None => Model::Closed { rate: self.rate.0 },
        };
        plan.timeout = self.timeout;
        plan.drain = self.drain;
        plan.first_source = self.source;
        if let Some(w) = self.workers {
            plan.workers = w;
        }
        plan.slow_ms = self.slow_ms;
        plan.validate()?;
        Ok(plan)
    }

    /// The contrast these flags ask for (`--contrast`).
    pub fn contrast_plan(&self) -> ContrastPlan {
        ContrastPlan {
            http_url: self.http_url.clone(),
            ws_url: self.url.clone(),
            users: self.clients,
            work_ms: self.slow_ms.unwrap_or(100),
            duration: self.duration,
        }
    }

    pub fn thresholds(&self) -> Thresholds {
        Thresholds {
            p99_under: self.p99_under,
            errors_under: self.errors_under,
        }
    }
}

/// Runs `crashcourse load`, printing the summary on stdout; returns the process exit code.
pub fn run(args: LoadArgs) -> i32 {
    let mut out = std::io::stdout().lock();
    let code = run_to(args, &mut out);
    let _ = out.flush();
    code
}

/// Runs `crashcourse load`, writing the summary to `out`; returns the process exit code.
pub fn run_to(args: LoadArgs, out: &mut dyn Write) -> i32 {
    if args.contrast {
        return run_contrast(&args, out);
    }
    let plan = match args.plan() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("crashcourse load: {e}");
            return EXIT_BAD_RUN;
        }
    };
    let style = if args.quiet {
        ProgressStyle::Off
    } else {
        ProgressStyle::auto()
    };
    let running = match crate::start(plan) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("crashcourse load: {e}");
            return EXIT_BAD_RUN;
        }
    };
    progress::watch(&running, style);
    let mut summary = running.wait();
    summary.judge(&args.thresholds());
    let _ = if args.json {
        writeln!(out, "{}", summary.to_json())
    } else {
        write!(out, "{}", summary.to_text())
    };
    if summary.passed {
        0
    } else {
        EXIT_THRESHOLD_FAILED
    }
}

/// `crashcourse load --contrast`: both sides at once, then their summaries side by side.
fn run_contrast(args: &LoadArgs, out: &mut dyn Write) -> i32 {
    let running = match contrast::start(args.contrast_plan()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("crashcourse load --contrast: {e}");
            return EXIT_BAD_RUN;
        }
    };
    let style = if args.quiet {
        ProgressStyle::Off
    } else {
        ProgressStyle::auto()
    };
    progress::watch_with(
        running.plan().duration,
        style,
        || running.is_finished(),
        || {
            let (t, p) = running.live();
            (
                p.elapsed,
                format!(
                    "{:.0}s  threads: {}  |  processes: {}",
                    p.elapsed.as_secs_f64(),
                    progress::brief(t),
                    progress::brief(p)
                ),
            )
        },
    );
    let result = running.wait();
    let _ = if args.json {
        writeln!(out, "{}", result.to_json())
    } else {
        write!(out, "{}", result.to_text())
    };
    let mut code = 0;
    for (side, s) in [
        ("thread-pool", &result.thread_pool),
        ("process", &result.processes),
    ] {
        if s.connections.ok == 0 {
            eprintln!(
                "crashcourse load --contrast: the {side} side connected no user ({}): {:?}",
                s.url, s.errors
            );
            code = EXIT_SIDE_FAILED;
        }
    }
    code
}

/// `crashcourse load` on its own (tests, other front ends): parses `argv` (without the program
/// name) as the subcommand's flags, then runs, writing the summary to `out`. Bad flags print
/// clap's message on stderr and give its exit code.
pub fn run_from<I, S>(argv: I, out: &mut dyn Write) -> i32
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString> + Clone,
{
    #[derive(Parser)]
    #[command(name = "crashcourse load")]
    struct Load {
        #[command(flatten)]
        args: LoadArgs,
    }
    let argv =
        std::iter::once(std::ffi::OsString::from("load")).chain(argv.into_iter().map(Into::into));
    match Load::try_parse_from(argv) {
        Ok(l) => run_to(l.args, out),
        Err(e) => {
            eprintln!("{e}");
            e.exit_code()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[derive(Parser)]
    struct Load {
        #[command(flatten)]
        args: LoadArgs,
    }

    #[test]
    fn the_flags_are_consistent_and_all_documented() {
        Load::command().debug_assert();
        let help = Load::command().render_long_help().to_string();
        for flag in [
            "--url",
            "--clients",
            "--ramp",
            "--duration",
            "--room",
            "--rate",
            "--arrival-rate",
            "--json",
            "--p99-under",
            "--errors-under",
            "--timeout",
            "--drain",
            "--source",
            "--workers",
            "--quiet",
            "--slow-ms",
            "--rooms",
            "--contrast",
            "--http-url",
        ] {
            assert!(help.contains(flag), "{flag} missing from --help");
        }
        for arg in Load::command().get_arguments() {
            assert!(arg.get_help().is_some(), "{} has no help", arg.get_id());
        }
    }
}
