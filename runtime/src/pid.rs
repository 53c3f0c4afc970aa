//! [`Pid`]: the identifier of a process, unique for the life of a runtime.

use std::fmt;

/// A process identifier, unique for the life of the runtime (never reused).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pid(pub(crate) u64);

impl Pid {
    /// The sender of exit signals that come from outside any process (control actions).
    pub const OUTSIDE: Pid = Pid(0);

    /// The number inside the pid.
    pub fn id(self) -> u64 {
        self.0
    }

    /// Builds a pid from its number (for tests and for parsing what the user typed).
    pub fn from_id(id: u64) -> Pid {
        Pid(id)
    }
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<0.{}.0>", self.0)
    }
}

impl fmt::Debug for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
