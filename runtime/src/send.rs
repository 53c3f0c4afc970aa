//! Sending a message from outside any process, and [`SendError`].

use crate::mailbox::{Message, Msg};
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
        let Some(target) = self.0.table.get(to) else {
            return Err(SendError { to, message });
        };
        match target.deliver(Msg::new(message)) {
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
