//! The queries: chat messages, lesson progress and settings. Plain functions over a
//! connection, plus the [`Pool`] methods that run them through the queue.

use rusqlite::{params, Connection, OptionalExtension};

use super::{DbError, Pool, StoredMessage};

const INSERT_MESSAGE: &str = "INSERT INTO messages (room, nick, body, at) VALUES (?1, ?2, ?3, ?4)";

/// Inserts one message inside the caller's transaction; returns its id.
pub(crate) fn insert(
    conn: &Connection,
    room: &str,
    nick: &str,
    body: &str,
    at_ms: i64,
) -> rusqlite::Result<i64> {
    conn.prepare_cached(INSERT_MESSAGE)?
        .execute(params![room, nick, body, at_ms])?;
    Ok(conn.last_insert_rowid())
}

/// The last `limit` messages of `room`, oldest first.
pub(crate) fn recent(
    conn: &Connection,
    room: &str,
    limit: usize,
) -> rusqlite::Result<Vec<StoredMessage>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, room, nick, body, at FROM messages WHERE room = ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let mut rows = stmt
        .query_map(params![room, limit as i64], |r| {
            Ok(StoredMessage {
                id: r.get(0)?,
                room: r.get(1)?,
                nick: r.get(2)?,
                body: r.get(3)?,
                at_ms: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.reverse();
    Ok(rows)
}

impl Pool {
    /// Stores a chat message. Resolves only after the transaction holding it has committed;
    /// concurrent inserts share one transaction (group commit).
    pub async fn insert_message(
        &self,
        room: &str,
        nick: &str,
        body: &str,
    ) -> Result<StoredMessage, DbError> {
        self.insert_owned(room.to_owned(), nick.to_owned(), body.to_owned())
            .await
    }

    /// The last `limit` messages of `room`, oldest first.
    pub async fn recent_messages(
        &self,
        room: &str,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, DbError> {
        let room = room.to_owned();
        self.run(move |c| recent(c, &room, limit)).await
    }

    /// Sets a setting.
    pub async fn put_setting(&self, key: &str, value: &str) -> Result<(), DbError> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.run(move |c| {
            c.execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map(drop)
        })
        .await
    }

    /// A setting, if set.
    pub async fn setting(&self, key: &str) -> Result<Option<String>, DbError> {
        let key = key.to_owned();
        self.run(move |c| {
            c.query_row(
                "SELECT value FROM settings WHERE key = ?1",
                params![key],
                |r| r.get(0),
            )
            .optional()
        })
        .await
    }

    /// Records that `step` of `lesson` is done (once; later calls keep the first time).
    pub async fn record_progress(&self, lesson: &str, step: u32) -> Result<(), DbError> {
        let lesson = lesson.to_owned();
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        self.run(move |c| {
            c.execute(
                "INSERT OR IGNORE INTO lesson_progress (lesson, step, completed_at)
                 VALUES (?1, ?2, ?3)",
                params![lesson, step, at],
            )
            .map(drop)
        })
        .await
    }

    /// The steps of `lesson` done so far, in order.
    pub async fn progress(&self, lesson: &str) -> Result<Vec<u32>, DbError> {
        let lesson = lesson.to_owned();
        self.run(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT step FROM lesson_progress WHERE lesson = ?1 ORDER BY step",
            )?;
            let steps = stmt
                .query_map(params![lesson], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<u32>>>()?;
            Ok(steps)
        })
        .await
    }

    /// Remembers that `lesson` was left at `step`.
    pub async fn set_lesson_step(&self, lesson: &str, step: u32) -> Result<(), DbError> {
        let lesson = lesson.to_owned();
        let at = now_ms();
        self.run(move |c| {
            c.execute(
                "INSERT INTO lesson_state (lesson, current_step, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (lesson) DO UPDATE SET current_step = excluded.current_step,
                     updated_at = excluded.updated_at",
                params![lesson, step, at],
            )
            .map(drop)
        })
        .await
    }

    /// Records the answer (0-based) the learner predicted at `step` of `lesson`.
    pub async fn record_prediction(
        &self,
        lesson: &str,
        step: u32,
        answer: u32,
    ) -> Result<(), DbError> {
        let lesson = lesson.to_owned();
        self.run(move |c| {
            c.execute(
                "INSERT INTO lesson_predictions (lesson, step, answer) VALUES (?1, ?2, ?3)
                 ON CONFLICT (lesson, step) DO UPDATE SET answer = excluded.answer",
                params![lesson, step, answer],
            )
            .map(drop)
        })
        .await
    }

    /// Forgets everything about `lesson`: steps done, where it was left, predictions.
    pub async fn reset_lesson(&self, lesson: &str) -> Result<(), DbError> {
        let lesson = lesson.to_owned();
        self.run(move |c| {
            let tx = c.unchecked_transaction()?;
            for table in ["lesson_progress", "lesson_state", "lesson_predictions"] {
                tx.execute(
                    &format!("DELETE FROM {table} WHERE lesson = ?1"),
                    params![lesson],
                )?;
            }
            tx.commit()
        })
        .await
    }

    /// Every lesson the learner has touched: where it was left, steps done, predictions.
    pub async fn lesson_records(&self) -> Result<Vec<LessonRecord>, DbError> {
        self.run(|c| {
            let mut records: Vec<LessonRecord> = Vec::new();
            let find = |records: &mut Vec<LessonRecord>, lesson: String| -> usize {
                match records.iter().position(|r| r.lesson == lesson) {
                    Some(i) => i,
                    None => {
                        records.push(LessonRecord {
                            lesson,
                            ..LessonRecord::default()
                        });
                        records.len() - 1
                    }
                }
            };
            let mut stmt = c.prepare_cached("SELECT lesson, current_step FROM lesson_state")?;
            for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?)))? {
                let (lesson, step) = row?;
                let i = find(&mut records, lesson);
                records[i].current_step = Some(step);
            }
            let mut stmt =
                c.prepare_cached("SELECT lesson, step FROM lesson_progress ORDER BY lesson, step")?;
            for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?)))? {
                let (lesson, step) = row?;
                let i = find(&mut records, lesson);
                records[i].done.push(step);
            }
            let mut stmt = c.prepare_cached(
                "SELECT lesson, step, answer FROM lesson_predictions ORDER BY lesson, step",
            )?;
            for row in stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, u32>(1)?,
                    r.get::<_, u32>(2)?,
                ))
            })? {
                let (lesson, step, answer) = row?;
                let i = find(&mut records, lesson);
                records[i].predictions.push((step, answer));
            }
            Ok(records)
        })
        .await
    }
}

/// What is stored about one lesson.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LessonRecord {
    pub lesson: String,
    /// Where the learner left it, if they opened it.
    pub current_step: Option<u32>,
    /// Steps done, in order.
    pub done: Vec<u32>,
    /// (step, answer) of every prediction made.
    pub predictions: Vec<(u32, u32)>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
