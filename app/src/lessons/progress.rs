//! The learner's progress in SQLite (through the chat server's pool): where each lesson was
//! left, the steps done and the predictions made. Reads happen once at start-up; writes go,
//! in order, through one writer thread so the window never waits on the database.

use std::collections::HashMap;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use crashcourse_runtime::db::{LessonRecord, Pool};
use crashcourse_runtime::Handle;

/// How long start-up waits for the stored progress.
const LOAD_LIMIT: Duration = Duration::from_secs(3);

/// One write, applied in the order it was asked for.
enum Write {
    Step(String, u32),
    Done(String, u32),
    Prediction(String, u32, u32),
    Reset(String),
}

/// Progress of every lesson, mirrored in memory; persisted when a pool is there.
pub struct Progress {
    records: HashMap<String, LessonRecord>,
    writer: Option<(mpsc::Sender<Write>, JoinHandle<()>)>,
    /// Whether anything was stored before this run (false: a first start).
    pub had_any: bool,
    /// Why progress is not being kept, if it is not.
    pub problem: Option<String>,
}

impl Progress {
    /// Progress kept in memory only (no database).
    pub fn in_memory() -> Progress {
        Progress {
            records: HashMap::new(),
            writer: None,
            had_any: false,
            problem: Some("no database: progress is kept until the app closes".into()),
        }
    }

    /// Loads what `pool` holds and starts the writer.
    pub fn open(handle: &Handle, pool: Pool) -> Progress {
        let (done_tx, done_rx) = mpsc::channel();
        {
            let (handle, pool) = (handle.clone(), pool.clone());
            std::thread::spawn(move || {
                let _ = done_tx.send(handle.block_on(pool.lesson_records()));
            });
        }
        let (records, problem) = match done_rx.recv_timeout(LOAD_LIMIT) {
            Ok(Ok(records)) => (records, None),
            Ok(Err(e)) => (
                Vec::new(),
                Some(format!("lesson progress could not be read: {e}")),
            ),
            Err(_) => (
                Vec::new(),
                Some("lesson progress could not be read in time".into()),
            ),
        };
        let (tx, rx) = mpsc::channel::<Write>();
        let handle = handle.clone();
        let writer = std::thread::Builder::new()
            .name("lesson progress".into())
            .spawn(move || {
                for write in rx {
                    let result = handle.block_on(async {
                        match write {
                            Write::Step(l, s) => pool.set_lesson_step(&l, s).await,
                            Write::Done(l, s) => pool.record_progress(&l, s).await,
                            Write::Prediction(l, s, a) => pool.record_prediction(&l, s, a).await,
                            Write::Reset(l) => pool.reset_lesson(&l).await,
                        }
                    });
                    if let Err(e) = result {
                        tracing_free_log(&format!("lesson progress not saved: {e}"));
                    }
                }
            })
            .ok();
        Progress {
            had_any: !records.is_empty(),
            records: records.into_iter().map(|r| (r.lesson.clone(), r)).collect(),
            writer: writer.map(|w| (tx, w)),
            problem,
        }
    }

    /// What is known about `lesson`.
    pub fn get(&self, lesson: &str) -> Option<&LessonRecord> {
        self.records.get(lesson)
    }

    fn entry(&mut self, lesson: &str) -> &mut LessonRecord {
        self.records
            .entry(lesson.to_string())
            .or_insert_with(|| LessonRecord {
                lesson: lesson.to_string(),
                ..LessonRecord::default()
            })
    }

    fn send(&self, write: Write) {
        if let Some((tx, _)) = &self.writer {
            let _ = tx.send(write);
        }
    }

    pub fn set_step(&mut self, lesson: &str, step: usize) {
        let step = step as u32;
        if self.entry(lesson).current_step != Some(step) {
            self.entry(lesson).current_step = Some(step);
            self.send(Write::Step(lesson.into(), step));
        }
    }

    pub fn mark_done(&mut self, lesson: &str, step: usize) {
        let step = step as u32;
        let record = self.entry(lesson);
        if !record.done.contains(&step) {
            record.done.push(step);
            record.done.sort_unstable();
            self.send(Write::Done(lesson.into(), step));
        }
    }

    pub fn predict(&mut self, lesson: &str, step: usize, answer: usize) {
        let (step, answer) = (step as u32, answer as u32);
        let record = self.entry(lesson);
        record.predictions.retain(|(s, _)| *s != step);
        record.predictions.push((step, answer));
        self.send(Write::Prediction(lesson.into(), step, answer));
    }

    /// The prediction made at `step`, if any.
    pub fn prediction(&self, lesson: &str, step: usize) -> Option<usize> {
        self.get(lesson)?
            .predictions
            .iter()
            .find(|(s, _)| *s as usize == step)
            .map(|(_, a)| *a as usize)
    }

    pub fn is_done(&self, lesson: &str, step: usize) -> bool {
        self.get(lesson)
            .is_some_and(|r| r.done.contains(&(step as u32)))
    }

    pub fn reset(&mut self, lesson: &str) {
        self.records.remove(lesson);
        self.send(Write::Reset(lesson.into()));
    }

    /// Waits for every write asked for so far, then stops the writer.
    pub fn flush_and_stop(&mut self) {
        if let Some((tx, join)) = self.writer.take() {
            drop(tx);
            let _ = join.join();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.flush_and_stop();
    }
}

/// Progress errors go to stderr: the app has no log panel for them.
fn tracing_free_log(message: &str) {
    eprintln!("crashcourse: {message}");
}
