//! The workloads behind `crashcourse bench`: each prints `bench <name> <value> <unit>` lines, the
//! same names and units as the peers in `shared/bench/`, so one run compares line by line.

pub mod chat;
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
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bench {} {:.3} {}", self.name, self.value, self.unit)
    }
}
