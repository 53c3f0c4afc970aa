//! The embedded chat server as the view model holds it: the running endpoint, where it
//! listens, what the database check at start said, and how to start it again.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use bevy_ecs::prelude::*;
use crashcourse_runtime::chat::{ChatConfig, ChatError, Endpoint};
use crashcourse_runtime::db::PoolMetrics;

use super::components::{Subsystem, TopSupervisors};
use super::link::RuntimeLink;
use super::observer::ChatProbe;

/// The label of the chat server's top supervisor.
pub const ENDPOINT_LABEL: &str = "endpoint";

/// The chat server: its settings, and the endpoint while one runs.
#[derive(Resource, Default)]
pub struct ChatServer {
    /// `None`: the app runs without a chat server.
    pub config: Option<ChatConfig>,
    pub endpoint: Option<Endpoint>,
    /// `http://127.0.0.1:4000`, once started.
    pub http_url: Option<String>,
    /// The WebSocket listener's address, once started.
    pub ws_addr: Option<SocketAddr>,
    /// What the database check at start did, in a sentence or two.
    pub storage: Option<String>,
    /// The database was corrupt and moved aside: worth more than a tooltip.
    pub storage_alarming: bool,
    /// Why the address is not the configured one (the port was taken).
    pub note: Option<String>,
    /// How many times it was started.
    pub starts: u32,
}

impl ChatServer {
    pub fn new(config: Option<ChatConfig>) -> ChatServer {
        ChatServer {
            config,
            ..ChatServer::default()
        }
    }

    /// Open WebSocket connections right now (one atomic load).
    pub fn connections(&self) -> u64 {
        self.endpoint
            .as_ref()
            .map_or(0, |e| e.metrics().connections.load(Ordering::Relaxed))
    }
}

/// The chat figures the status bar and the inspector show.
#[derive(Resource, Debug, Default, Clone)]
pub struct ChatStats {
    pub connections: u64,
    pub joins: u64,
    pub pool: Option<PoolMetrics>,
}

/// Starts the chat server (again): on the configured ports, or on free ones when those are
/// taken. A failure is recorded as a stopped top supervisor with the error as its reason.
pub fn start_chat(world: &mut World) -> Result<(), String> {
    let Some(config) = world.resource::<ChatServer>().config.clone() else {
        return Ok(());
    };
    let handle = world.resource::<RuntimeLink>().handle.clone();
    if let Some(old) = world.resource_mut::<ChatServer>().endpoint.take() {
        // A stopped endpoint's supervisor is gone already; this only makes sure.
        old.shutdown(std::time::Duration::from_secs(1));
    }
    let mut note = None;
    let started = match Endpoint::start(&handle, config.clone()) {
        Err(ChatError::PortInUse { what, addr, .. }) => {
            note = Some(format!(
                "The {what} port {} was taken, so the chat server listens on free ports.",
                addr.port()
            ));
            Endpoint::start(&handle, config.any_ports())
        }
        other => other,
    };
    match started {
        Ok(endpoint) => {
            let probe = ChatProbe {
                metrics: endpoint.metrics().clone(),
                pool: endpoint.pool().clone(),
            };
            world
                .resource::<RuntimeLink>()
                .observer
                .set_chat(Some(probe));
            world.resource_mut::<TopSupervisors>().running(
                Subsystem::Chat,
                endpoint.supervisor(),
                ENDPOINT_LABEL,
            );
            let mut server = world.resource_mut::<ChatServer>();
            server.http_url = Some(endpoint.http_url());
            server.ws_addr = Some(endpoint.ws_addr());
            server.storage = Some(endpoint.storage().message());
            server.storage_alarming = endpoint.storage().moved_aside.is_some();
            server.note = note;
            server.starts += 1;
            server.endpoint = Some(endpoint);
            Ok(())
        }
        Err(e) => {
            let message = format!("the chat server did not start: {e}");
            world.resource::<RuntimeLink>().observer.set_chat(None);
            world.resource_mut::<TopSupervisors>().failed(
                Subsystem::Chat,
                ENDPOINT_LABEL,
                e.to_string(),
            );
            let mut server = world.resource_mut::<ChatServer>();
            server.http_url = None;
            server.ws_addr = None;
            Err(message)
        }
    }
}

/// Stops the chat server in order (listener, sockets, rooms, pool, presence, pub/sub) within
/// `limit`; true if it stopped in time (or was not running).
pub fn stop_chat(world: &mut World, limit: std::time::Duration) -> bool {
    let Some(endpoint) = world.resource_mut::<ChatServer>().endpoint.take() else {
        return true;
    };
    world.resource::<RuntimeLink>().observer.set_chat(None);
    endpoint.shutdown(limit)
}
