//! Sending a message from outside any process, and [`SendError`]; the send path processes
//! share, which is where a trace sees messages go out and come in.

use std::sync::atomic::Ordering;

use crate::mailbox::{Message, Msg};
use crate::process::record::ProcessInner;
use crate::trace::event::{cut, TraceWhat};
use crate::{Handle, Pid};

/// Sending failed because the receiver is gone; the message is handed back.
#[derive(Debug, thiserror::Error)]
#[error("no process {to}: the message was not delivered")]
pub struct SendError<M> {
    pub to: Pid,
    pub message: M,
}

impl Handle {
    /// Sends a message from outside any process; never blocks.
    pub fn send<M: Message>(&self, to: Pid, message: M) -> Result<(), SendError<M>> {
        self.send_from(None, to, message)
    }

    /// Sends `message` to `to` from process `from` (`None`: from outside any process). A
    /// traced sender records the send and a traced receiver the receive, in that order.
    pub(crate) fn send_from<M: Message>(
        &self,
        from: Option<&ProcessInner>,
        to: Pid,
        message: M,
    ) -> Result<(), SendError<M>> {
        let sender_traced = from.is_some_and(|f| f.traced.load(Ordering::Relaxed));
        let Some(target) = self.0.table.get(to) else {
            if let (true, Some(f)) = (sender_traced, from) {
                self.trace_send(f.pid, to, cut(message.render()));
            }
            return Err(SendError { to, message });
        };
        let delivered = if sender_traced || target.traced.load(Ordering::Relaxed) {
            // Only a traced process pays for rendering the message. Both sides are recorded
            // before the delivery, so the receiver cannot answer before its trace saw the
            // message arrive (a receiver that is exiting at that very moment has a receive
            // recorded that it never takes).
            let text = cut(message.render());
            if let (true, Some(f)) = (sender_traced, from) {
                self.trace_send(f.pid, to, text.clone());
            }
            if target.traced.load(Ordering::Relaxed) {
                self.0.tracers.record(
                    to,
                    TraceWhat::Receive {
                        from: from.map(|f| f.pid),
                        text,
                    },
                );
            }
            target.deliver(Msg::new(message))
        } else {
            target.deliver(Msg::new(message))
        };
        match delivered {
            Ok(()) => {
                self.0.executor.count_message();
                Ok(())
            }
            // It is exiting: still in the table, but no longer taking messages.
            Err(msg) => Err(SendError {
                to,
                message: msg
                    .downcast::<M>()
                    .unwrap_or_else(|_| unreachable!("boxed as M above")),
            }),
        }
    }

    fn trace_send(&self, from: Pid, to: Pid, text: String) {
        self.0.tracers.record(
            from,
            TraceWhat::Send {
                from: Some(from),
                to,
                text,
            },
        );
    }

    /// Sends a boxed message.
    pub fn send_msg(&self, to: Pid, message: Msg) -> bool {
        match self.0.table.get(to) {
            Some(target) => {
                let delivered = target.deliver(message).is_ok();
                if delivered {
                    self.0.executor.count_message();
                }
                delivered
            }
            None => false,
        }
    }
}
