//! `crashcourse lessons check [DIR]` and `crashcourse lessons list [DIR]`: the lesson files
//! validated from the terminal, as the app reads them at start-up.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use crashcourse_app::lessons::{Catalog, Entry};

/// What to do with the lesson files.
#[derive(Subcommand)]
pub enum LessonsCommand {
    /// Validate every lesson file: one `file:line:col: message` line per problem (exit 1), or
    /// one line per lesson (exit 0).
    Check {
        /// The directory of lesson files (default: `lessons/` here, else the source tree's).
        dir: Option<PathBuf>,
    },
    /// List the lessons: number, id, minutes, steps, title (broken files are marked).
    List {
        /// The directory of lesson files (default: `lessons/` here, else the source tree's).
        dir: Option<PathBuf>,
    },
}

/// Runs the command; returns the exit code.
pub fn run(command: LessonsCommand) -> i32 {
    let (dir, check) = match command {
        LessonsCommand::Check { dir } => (dir, true),
        LessonsCommand::List { dir } => (dir, false),
    };
    let catalog = match load(dir.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("crashcourse lessons: {e}");
            return 2;
        }
    };
    if catalog.entries.is_empty() {
        eprintln!("crashcourse lessons: no lesson files (*.md) found");
        return 1;
    }
    let broken = catalog.problems().count();
    for (n, entry) in catalog.entries.iter().enumerate() {
        match entry {
            Entry::Ready(l) => {
                if !check || broken == 0 {
                    println!(
                        "{:>2}  {:<20} {:>2} min  {:>2} steps  {}  ({})",
                        n + 1,
                        l.id,
                        l.minutes,
                        l.steps.len(),
                        l.title,
                        l.file
                    );
                }
            }
            Entry::Broken { file, problems } => {
                if check {
                    for p in problems {
                        println!("{p}");
                    }
                } else {
                    println!(
                        "{:>2}  BROKEN {file}: {} problem(s), first: {}",
                        n + 1,
                        problems.len(),
                        problems[0]
                    );
                }
            }
        }
    }
    if check && broken > 0 {
        let ok = catalog.lessons().count();
        eprintln!(
            "{broken} problem(s) in {} file(s); {ok} lesson(s) load",
            catalog.entries.len() - ok
        );
        return 1;
    }
    0
}

fn load(dir: Option<&Path>) -> Result<Catalog, String> {
    match dir {
        Some(dir) => Catalog::load_dir(dir),
        None => match Catalog::find_dir() {
            Some(dir) => Catalog::load_dir(&dir),
            None if Catalog::has_embedded() => Ok(Catalog::embedded()),
            None => {
                Err("no lessons directory found; pass one: crashcourse lessons check DIR".into())
            }
        },
    }
}
