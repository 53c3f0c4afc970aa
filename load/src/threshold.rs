//! Thresholds, as k6 has them: each passes or fails, and a failed one fails the run.

use std::time::Duration;

use serde::Serialize;

/// Pass/fail criteria for a run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Thresholds {
    /// The round-trip (request, in HTTP mode) p99 must be below this.
    pub p99_under: Option<Duration>,
    /// The error rate (failures / operations) must be below this fraction.
    pub errors_under: Option<f64>,
}

/// The figures thresholds are judged on.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Measured {
    /// Round-trip p99 in milliseconds; `None` when no reply was measured.
    pub p99_ms: Option<f64>,
    /// Failures / operations.
    pub error_rate: f64,
    pub failures: u64,
    pub operations: u64,
}

/// One threshold's verdict.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ThresholdResult {
    /// E.g. `p99 < 200ms`.
    pub name: String,
    /// The measured value, e.g. `4.21ms`, or why there is none.
    pub actual: String,
    pub passed: bool,
}

impl Thresholds {
    /// The verdict of each threshold on `s`. A latency threshold with no samples fails: nothing
    /// shows the latency was under it.
    pub fn verdict(&self, s: &Measured) -> Vec<ThresholdResult> {
        let mut out = Vec::new();
        if let Some(limit) = self.p99_under {
            let limit_ms = limit.as_secs_f64() * 1e3;
            let name = format!("p99 < {}", ms(limit_ms));
            out.push(match s.p99_ms {
                Some(p99) => ThresholdResult {
                    name,
                    actual: ms(p99),
                    passed: p99 < limit_ms,
                },
                None => ThresholdResult {
                    name,
                    actual: "no replies measured".into(),
                    passed: false,
                },
            });
        }
        if let Some(limit) = self.errors_under {
            out.push(ThresholdResult {
                name: format!("errors < {}%", trim(limit * 100.0)),
                actual: format!(
                    "{}% ({} of {})",
                    trim(s.error_rate * 100.0),
                    s.failures,
                    s.operations
                ),
                passed: s.error_rate < limit,
            });
        }
        out
    }
}

fn ms(v: f64) -> String {
    format!("{}ms", trim(v))
}

/// At most three decimals, without trailing zeros.
fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}
