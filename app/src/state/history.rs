//! Metric histories for the dashboard and the warnings: one point per metrics sample (a second
//! by default), an hour of them kept, counters turned into per-second rates.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bevy_ecs::prelude::*;

use super::ingest::Observations;
use super::observer::MetricsSample;

/// How much history is kept.
pub const HISTORY_SPAN: Duration = Duration::from_secs(3600);

/// One metric over time: `[seconds since the app started, value]`, oldest first.
#[derive(Debug, Default, Clone)]
pub struct Series {
    points: VecDeque<[f64; 2]>,
}

impl Series {
    pub fn push(&mut self, t: f64, value: f64) {
        while self
            .points
            .front()
            .is_some_and(|p| t - p[0] > HISTORY_SPAN.as_secs_f64())
        {
            self.points.pop_front();
        }
        self.points.push_back([t, value]);
    }

    pub fn last(&self) -> Option<f64> {
        self.points.back().map(|p| p[1])
    }

    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// The points at or after `since`, oldest first.
    pub fn since(&self, since: f64) -> impl DoubleEndedIterator<Item = [f64; 2]> + '_ {
        let start = self.points.partition_point(|p| p[0] < since);
        self.points.range(start..).copied()
    }

    /// The newest `n` values, oldest first.
    pub fn newest(&self, n: usize) -> impl Iterator<Item = f64> + '_ {
        let skip = self.points.len().saturating_sub(n);
        self.points.iter().skip(skip).map(|p| p[1])
    }

    /// At most about `max` points at or after `since`, each the largest of its bucket, so a
    /// spike stays visible however long the window.
    pub fn decimated(&self, since: f64, max: usize) -> Vec<[f64; 2]> {
        let start = self.points.partition_point(|p| p[0] < since);
        let n = self.points.len() - start;
        let bucket = n.div_ceil(max.max(1)).max(1);
        if bucket == 1 {
            return self.points.range(start..).copied().collect();
        }
        let mut out = Vec::with_capacity(n / bucket + 1);
        let mut i = start;
        while i < self.points.len() {
            let end = (i + bucket).min(self.points.len());
            let mut best = self.points[i];
            for p in self.points.range(i..end) {
                if p[1] > best[1] {
                    best = *p;
                }
            }
            out.push([self.points[end - 1][0], best[1]]);
            i = end;
        }
        out
    }
}

/// Counter totals of the previous sample, for rates.
#[derive(Debug, Clone, Copy)]
struct Totals {
    at: Instant,
    broadcasts: Option<u64>,
    restarts: u64,
    drops: Option<u64>,
}

/// Every metric the dashboard draws.
#[derive(Resource, Debug)]
pub struct Histories {
    origin: Instant,
    pub processes: Series,
    /// MiB.
    pub memory: Series,
    pub connections: Series,
    pub messages_per_sec: Series,
    pub broadcasts_per_sec: Series,
    pub restarts_per_sec: Series,
    pub pool_checked_out: Series,
    pub pool_queue: Series,
    pub pool_drops_per_sec: Series,
    /// Milliseconds, over the pool's last 5–10 s.
    pub queue_p50_ms: Series,
    pub queue_p99_ms: Series,
    /// Percent busy, one series per scheduler thread.
    pub scheduler_busy: Vec<Series>,
    last: Option<Totals>,
}

impl Histories {
    pub fn new(origin: Instant) -> Histories {
        Histories {
            origin,
            processes: Series::default(),
            memory: Series::default(),
            connections: Series::default(),
            messages_per_sec: Series::default(),
            broadcasts_per_sec: Series::default(),
            restarts_per_sec: Series::default(),
            pool_checked_out: Series::default(),
            pool_queue: Series::default(),
            pool_drops_per_sec: Series::default(),
            queue_p50_ms: Series::default(),
            queue_p99_ms: Series::default(),
            scheduler_busy: Vec::new(),
            last: None,
        }
    }

    /// `at` as a point on the histories' time axis.
    pub fn time_of(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.origin).as_secs_f64()
    }

    /// Adds one sample's points.
    pub fn record(&mut self, sample: &MetricsSample) {
        let t = self.time_of(sample.at);
        let runtime = &sample.runtime;
        self.processes.push(t, runtime.process_count as f64);
        self.memory
            .push(t, runtime.total_memory as f64 / (1024.0 * 1024.0));
        self.messages_per_sec.push(t, sample.rates.messages_per_sec);
        let busy = &sample.rates.busy_fraction;
        if self.scheduler_busy.len() < busy.len() {
            self.scheduler_busy.resize_with(busy.len(), Series::default);
        }
        for (series, fraction) in self.scheduler_busy.iter_mut().zip(busy) {
            series.push(t, fraction * 100.0);
        }
        let chat = sample.chat.as_ref();
        let totals = Totals {
            at: sample.at,
            broadcasts: chat.map(|c| c.broadcasts),
            restarts: runtime.restarts_total,
            drops: chat.map(|c| c.pool.drops),
        };
        if let Some(last) = self.last {
            let secs = totals
                .at
                .saturating_duration_since(last.at)
                .as_secs_f64()
                .max(1e-3);
            let rate = |now: u64, then: u64| now.saturating_sub(then) as f64 / secs;
            self.restarts_per_sec
                .push(t, rate(totals.restarts, last.restarts));
            if let (Some(now), Some(then)) = (totals.broadcasts, last.broadcasts) {
                self.broadcasts_per_sec.push(t, rate(now, then));
            }
            if let (Some(now), Some(then)) = (totals.drops, last.drops) {
                self.pool_drops_per_sec.push(t, rate(now, then));
            }
        }
        self.last = Some(totals);
        if let Some(chat) = chat {
            self.connections.push(t, chat.connections as f64);
            self.pool_checked_out.push(t, chat.pool.checked_out as f64);
            self.pool_queue.push(t, chat.pool.queue_len as f64);
            let ms = |d: Duration| d.as_secs_f64() * 1000.0;
            self.queue_p50_ms
                .push(t, ms(chat.pool.recent_queue_time.p50));
            self.queue_p99_ms
                .push(t, ms(chat.pool.recent_queue_time.p99));
        }
    }
}

/// Appends the observer's new samples to the histories.
pub fn record_histories(observations: Res<Observations>, mut histories: ResMut<Histories>) {
    for sample in &observations.samples {
        histories.record(sample);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_series_keeps_an_hour_and_decimation_keeps_the_spike() {
        let mut series = Series::default();
        for i in 0..4000 {
            series.push(i as f64, if i == 3500 { 99.0 } else { 1.0 });
        }
        assert_eq!(
            series.len(),
            3601,
            "an hour of one-second points, both ends"
        );
        let drawn = series.decimated(0.0, 100);
        assert!(drawn.len() <= 101, "{}", drawn.len());
        assert!(drawn.iter().any(|p| p[1] == 99.0), "the spike survives");
        assert_eq!(series.since(3990.0).count(), 10);
        assert_eq!(series.newest(3).collect::<Vec<_>>(), vec![1.0, 1.0, 1.0]);
    }
}
