//! `crashcourse console --attach HOST:PORT --token T [COMMAND...]`: the app's console from a
//! terminal, over a node's observer stream. One command from the arguments, or one per line of
//! stdin until its end; each answer is printed as the app's console shows it: the IEx
//! expression for the same question, then the answer's lines.

use std::io::{BufRead, IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use crashcourse_runtime::stream::{ClientError, Command, ObserverClient, Outcome};

use crate::args;

#[derive(Args, Debug)]
pub struct ConsoleArgs {
    /// The node's observer stream (`crashcourse serve --observer ADDR` prints it).
    #[arg(long, value_name = "HOST:PORT")]
    attach: String,
    /// The token `serve` printed.
    #[arg(
        long,
        required_unless_present = "token_file",
        conflicts_with = "token_file"
    )]
    token: Option<String>,
    /// Read the token from this file (its first line).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// How long to wait for each answer.
    #[arg(long, default_value = "10s", value_parser = args::positive_duration)]
    timeout: Duration,
    /// One command (e.g. `count`, `kill <0.42.0>`); without it, commands are read from stdin,
    /// one a line, until its end.
    command: Vec<String>,
}

/// Runs the console; the exit code is 1 if the (last) command failed, 2 if the node could not
/// be reached or dropped the connection.
pub fn run(args: ConsoleArgs) -> i32 {
    match attach_and_run(&args) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(e) => {
            eprintln!("error: {e:#}");
            2
        }
    }
}

fn token(args: &ConsoleArgs) -> Result<String> {
    if let Some(t) = &args.token {
        return Ok(t.clone());
    }
    let Some(path) = &args.token_file else {
        bail!("give the token with --token or --token-file");
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("could not read the token file {}", path.display()))?;
    Ok(text.lines().next().unwrap_or("").trim().to_string())
}

/// Whether the last command answered without an error.
fn attach_and_run(args: &ConsoleArgs) -> Result<bool> {
    let token = token(args)?;
    let mut client = ObserverClient::connect(&args.attach, &token, Duration::from_secs(5))?;
    if !args.command.is_empty() {
        let line = args.command.join(" ");
        return ask(&mut client, &line, args.timeout);
    }
    let stdin = std::io::stdin();
    let prompt = stdin.is_terminal();
    if prompt {
        eprintln!(
            "attached to {}; `help` lists the commands, Ctrl-D leaves",
            client.hello().node
        );
    }
    let mut ok = true;
    let mut lines = stdin.lock().lines();
    loop {
        if prompt {
            eprint!("console> ");
            let _ = std::io::stderr().flush();
        }
        let Some(line) = lines.next() else { break };
        let line = line.context("could not read stdin")?;
        if line.trim().is_empty() {
            continue;
        }
        ok = ask(&mut client, &line, args.timeout)?;
    }
    Ok(ok)
}

/// Sends one console line and prints its answer; whether it was not an error.
fn ask(client: &mut ObserverClient, line: &str, timeout: Duration) -> Result<bool> {
    let outcome = client
        .request(
            Command::Console {
                line: line.to_string(),
            },
            timeout,
        )
        .map_err(|e| match e {
            ClientError::Timeout(_) => anyhow::anyhow!("`{line}`: no answer within {timeout:?}"),
            e => anyhow::Error::new(e),
        })?;
    let mut out = std::io::stdout().lock();
    match outcome {
        Outcome::Console { lines, iex, error } => {
            if !iex.is_empty() {
                writeln!(out, "iex> {iex}")?;
            }
            for l in &lines {
                writeln!(out, "{l}")?;
            }
            out.flush()?;
            Ok(!error)
        }
        Outcome::Done => Ok(true),
        Outcome::Failed(why) => {
            writeln!(out, "{why}")?;
            Ok(false)
        }
    }
}
