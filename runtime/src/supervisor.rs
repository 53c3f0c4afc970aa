//! Supervisors as in OTP: start children in order, restart them by strategy and restart type,
//! give up past a restart intensity, and stop children in reverse order.
//!
//! A supervisor traps exits and is linked to its children. When a child exits, its restart type
//! decides whether it comes back (`permanent` always, `transient` after an abnormal exit,
//! `temporary` never); the strategy decides who else restarts with it (`one_for_one`: nobody;
//! `one_for_all`: every child; `rest_for_one`: the children started after it). More than
//! `max_restarts` restarts within `period` and the supervisor stops all its children and exits
//! with `shutdown`, so the failure climbs to its own supervisor.
//!
//! ```
//! use std::time::Duration;
//! use crashcourse_runtime::supervisor::{self, ChildSpec, Intensity, Strategy, SupervisorSpec};
//! use crashcourse_runtime::{Runtime, RuntimeConfig, SpawnOpts};
//!
//! let rt = Runtime::start(RuntimeConfig::default());
//! let spec = SupervisorSpec::new(Strategy::OneForOne, Intensity::elixir())
//!     .child(ChildSpec::worker("ticker", |ctx| async move {
//!         while !ctx.recv().await.is::<&str>() {}
//!     }).name("ticker"));
//! let sup = supervisor::start(&rt, SpawnOpts::new().label("app"), spec).unwrap();
//! let first = rt.whereis("ticker").unwrap();
//! rt.kill(first).unwrap();
//! // The supervisor starts a new ticker under the same name.
//! let deadline = std::time::Instant::now() + Duration::from_secs(5);
//! while rt.whereis("ticker").is_none_or(|p| p == first) {
//!     assert!(std::time::Instant::now() < deadline);
//!     std::thread::yield_now();
//! }
//! # let _ = sup;
//! ```
//!
//! The parts, one file each: the spec (what a supervisor is told), intensity (the restart
//! window), the running record of each child, the client calls, stopping children and waiting
//! for them, the supervisor process itself (a server `Behaviour`), and `start`.

mod behaviour;
mod child;
mod client;
mod intensity;
mod shutdown;
mod spec;
mod start;

pub(crate) use child::Child;
pub use child::ChildInfo;
pub use client::{
    restart_child, start_child, terminate_child, which_children, SupervisorCall, SupervisorReply,
};
pub use intensity::Intensity;
pub(crate) use intensity::RestartWindow;
pub(crate) use shutdown::{terminate, wait_exits};
pub use spec::{ChildSpec, Restart, Shutdown, StartFn, Strategy, SupervisorSpec};
pub use start::{start, StartError};
