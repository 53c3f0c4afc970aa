//! The generic server (OTP's `gen_server`): init, calls with a reply and a caller timeout,
//! casts, exit signals, other messages, terminate — and a state that renders itself for the
//! inspector. [`Behaviour`] is the one shape every server-shaped process of the runtime takes
//! (supervisors, rooms, the database pool and its connections); its handlers are async, so a
//! handler may wait. [`Server`] is its short form for handlers that return at once.
//!
//! ```
//! use std::time::Duration;
//! use crashcourse_runtime::{server::{self, Flow, ReplyTo, Server}, Ctx, Runtime, RuntimeConfig, SpawnOpts};
//!
//! struct Counter(u64);
//! impl Server for Counter {
//!     type Call = ();
//!     type Reply = u64;
//!     type Cast = u64;
//!     fn handle_call(&mut self, _: &Ctx, _: (), reply: ReplyTo<u64>) -> Flow {
//!         reply.send(self.0);
//!         Flow::Continue
//!     }
//!     fn handle_cast(&mut self, _: &Ctx, n: u64) -> Flow {
//!         self.0 += n;
//!         Flow::Continue
//!     }
//! }
//!
//! let rt = Runtime::start(RuntimeConfig::default());
//! let pid = server::start(&rt, SpawnOpts::new().name("counter"), Counter(0)).unwrap();
//! server::cast::<Counter>(&rt, pid, 5).unwrap();
//! let n = rt.block_on(server::call::<Counter>(&rt, pid, (), Duration::from_secs(1))).unwrap();
//! assert_eq!(n, 5);
//! ```

mod behaviour;
mod client;
mod envelope;
mod run;
mod simple;
mod wait;

pub(crate) use behaviour::is_from_owner;
pub use behaviour::{Behaviour, Flow};
pub use client::{call, call_raw, cast, cast_raw, CallError};
pub use envelope::{CallMsg, CastMsg, ReplyTo};
pub use run::{serve, start};
pub use simple::Server;
pub(crate) use wait::wait_for_name;
