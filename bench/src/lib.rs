//! The workloads behind `crashcourse bench`: each prints `bench <name> <value> <unit>` lines,
//! the same names and units as our peers in `bench/peers/` (the Erlang/OTP workloads and the
//! Node.js `ws` chat server), so one run compares line by line.

pub mod chat;
pub mod connections;
pub mod load;
pub mod peers;
pub mod pool;
pub mod runtime;

use std::fmt;

/// One figure.
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub unit: &'static str,
}

impl Figure {
    pub fn new(name: impl Into<String>, value: f64, unit: &'static str) -> Figure {
        Figure {
            name: name.into(),
            value,
            unit,
        }
    }
}

impl fmt::Display for Figure {
    /// `bench <name> <value with 3 decimals> <unit>`, as the peers print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bench {} {:.3} {}", self.name, self.value, self.unit)
    }
}

/// Why a benchmark could not give its figures: the caller reports it and exits non-zero.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BenchError(pub String);

impl BenchError {
    pub fn new(msg: impl Into<String>) -> BenchError {
        BenchError(msg.into())
    }

    /// `Ok` when no side failed, else one error naming every failure (each side runs even when
    /// another fails, so all figures measured are printed first).
    pub fn from_failures(failures: Vec<String>) -> Result<(), BenchError> {
        if failures.is_empty() {
            Ok(())
        } else {
            Err(BenchError::new(failures.join("; ")))
        }
    }
}

/// A fresh temporary directory for one benchmark's files (`crashcourse-bench-<name>-...`).
pub fn temp_dir(name: &str) -> Result<tempfile::TempDir, BenchError> {
    tempfile::Builder::new()
        .prefix(&format!("crashcourse-bench-{name}-"))
        .tempdir()
        .map_err(|e| BenchError::new(format!("could not create a temporary directory: {e}")))
}

impl From<crashcourse_runtime::db::DbError> for BenchError {
    fn from(e: crashcourse_runtime::db::DbError) -> BenchError {
        BenchError(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_figure_prints_like_the_peers() {
        let f = Figure::new("ring.msgs_per_s", 1234.56789, "msg/s");
        assert_eq!(f.to_string(), "bench ring.msgs_per_s 1234.568 msg/s");
        assert_eq!(
            Figure::new("spawn_idle.bytes_per_process", 2.0, "B").to_string(),
            "bench spawn_idle.bytes_per_process 2.000 B"
        );
    }
}
