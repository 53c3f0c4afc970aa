//! The pub/sub process: rooms hand it one encoded frame, and it delivers that same frame to
//! every socket subscribed to the room's topic (Phoenix's "fastlane": encode once, not once per
//! subscriber).

use std::sync::Arc;

use crate::chat::{names, Push};
use crate::server::{Flow, ReplyTo, Server};
use crate::supervisor::ChildSpec;
use crate::{Ctx, Kind};

/// Deliver `frame` to every subscriber of `topic`.
#[derive(Debug)]
pub(crate) struct Broadcast {
    pub(crate) topic: Arc<str>,
    pub(crate) frame: Push,
}

#[derive(Default)]
struct PubSub {
    broadcasts: u64,
    deliveries: u64,
}

impl Server for PubSub {
    type Call = ();
    type Reply = (u64, u64);
    type Cast = Broadcast;

    fn handle_call(&mut self, _ctx: &Ctx, _req: (), reply: ReplyTo<(u64, u64)>) -> Flow {
        reply.send((self.broadcasts, self.deliveries));
        Flow::Continue
    }

    fn handle_cast(&mut self, ctx: &Ctx, b: Broadcast) -> Flow {
        self.broadcasts += 1;
        self.deliveries += ctx.handle().broadcast(&b.topic, b.frame) as u64;
        Flow::Continue
    }

    fn render_state(&self) -> String {
        format!(
            "broadcasts: {}\ndeliveries: {}",
            self.broadcasts, self.deliveries
        )
    }
}

pub(crate) fn child_spec() -> ChildSpec {
    ChildSpec::server(names::PUBSUB, PubSub::default)
        .name(names::PUBSUB)
        .kind(Kind::PubSub)
}
