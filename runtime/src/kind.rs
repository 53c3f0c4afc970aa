//! What a process is ([`Kind`], for display and filtering) and what it is doing ([`Status`]).

/// What a process is, for display and filtering.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Kind {
    Worker,
    Server,
    Supervisor,
    DynamicSupervisor,
    Socket,
    Channel,
    Room,
    Presence,
    PubSub,
    Pool,
    PoolConnection,
    Http,
}

impl Kind {
    /// Every kind, in declaration order.
    pub const ALL: [Kind; 12] = [
        Kind::Worker,
        Kind::Server,
        Kind::Supervisor,
        Kind::DynamicSupervisor,
        Kind::Socket,
        Kind::Channel,
        Kind::Room,
        Kind::Presence,
        Kind::PubSub,
        Kind::Pool,
        Kind::PoolConnection,
        Kind::Http,
    ];

    /// A kind by its [`name`](Kind::name), case-insensitive, with `_` or `-` standing for a
    /// space (`pool_connection`), as command lines and lesson files write it.
    pub fn parse(name: &str) -> Option<Kind> {
        let name = name.trim().to_ascii_lowercase().replace(['_', '-'], " ");
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// A short lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Worker => "worker",
            Kind::Server => "server",
            Kind::Supervisor => "supervisor",
            Kind::DynamicSupervisor => "dynamic supervisor",
            Kind::Socket => "socket",
            Kind::Channel => "channel",
            Kind::Room => "room",
            Kind::Presence => "presence",
            Kind::PubSub => "pubsub",
            Kind::Pool => "pool",
            Kind::PoolConnection => "pool connection",
            Kind::Http => "http",
        }
    }

    /// Whether processes of this kind supervise others.
    pub fn is_supervisor(self) -> bool {
        matches!(self, Kind::Supervisor | Kind::DynamicSupervisor)
    }
}

/// What a process is doing, as far as the runtime can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Status {
    /// Woken and waiting for a worker thread.
    Runnable = 0,
    /// Being polled right now.
    Running = 1,
    /// Idle: waiting for a message, a timer or I/O.
    Waiting = 2,
    /// Its poll has used more than 10 ms of CPU time and has not returned yet.
    NotYielding = 3,
    /// Gone, or on its way out.
    Exited = 4,
}

impl Status {
    pub(crate) fn from_u8(v: u8) -> Status {
        match v {
            0 => Status::Runnable,
            1 => Status::Running,
            2 => Status::Waiting,
            3 => Status::NotYielding,
            _ => Status::Exited,
        }
    }

    /// A short lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Status::Runnable => "runnable",
            Status::Running => "running",
            Status::Waiting => "waiting",
            Status::NotYielding => "not yielding",
            Status::Exited => "exited",
        }
    }
}
