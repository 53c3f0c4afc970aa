//! Messages and the mailbox: an unbounded FIFO queue that the inspector can peek into.
//!
//! Any `Send + Debug + 'static` value is a message. The mailbox keeps them boxed, in arrival
//! order; a process takes the first one ([`Ctx::recv`](crate::Ctx::recv)) or the first one that
//! matches a predicate (selective receive). The debug rendering is what the inspector shows.

use std::any::Any;
use std::collections::VecDeque;
use std::fmt;

/// Anything that can be sent to a process.
pub trait Message: Any + Send {
    /// The message as text, for the inspector.
    fn render(&self) -> String;
    #[doc(hidden)]
    fn as_any(&self) -> &dyn Any;
    #[doc(hidden)]
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send>;
}

impl<T: Any + Send + fmt::Debug> Message for T {
    fn render(&self) -> String {
        format!("{self:?}")
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }
}

/// A message in a mailbox, of any type; take it apart with [`Msg::downcast`].
pub struct Msg(Box<dyn Message>);

impl Msg {
    /// Wraps a value as a message.
    pub fn new<M: Message>(message: M) -> Msg {
        Msg(Box::new(message))
    }

    /// Whether the message is a `T`.
    pub fn is<T: Any>(&self) -> bool {
        self.0.as_any().is::<T>()
    }

    /// The message as a `&T`, if it is one.
    pub fn downcast_ref<T: Any>(&self) -> Option<&T> {
        self.0.as_any().downcast_ref::<T>()
    }

    /// The message as a `T`, or the message back if it is something else.
    pub fn downcast<T: Any>(self) -> Result<T, Msg> {
        if self.is::<T>() {
            match self.0.into_any().downcast::<T>() {
                Ok(b) => Ok(*b),
                Err(_) => unreachable!("type checked above"),
            }
        } else {
            Err(self)
        }
    }

    /// The message as text, for the inspector.
    pub fn render(&self) -> String {
        self.0.render()
    }

    /// Bytes this message holds on the heap (its box).
    pub fn size(&self) -> usize {
        std::mem::size_of_val(&*self.0)
    }
}

impl fmt::Debug for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

/// The queue itself; it lives inside the process's locked state.
#[derive(Default)]
pub(crate) struct Mailbox {
    queue: VecDeque<Msg>,
    bytes: usize,
}

impl Mailbox {
    pub(crate) fn push(&mut self, msg: Msg) {
        self.bytes += msg.size();
        self.queue.push_back(msg);
    }

    pub(crate) fn pop(&mut self) -> Option<Msg> {
        let msg = self.queue.pop_front()?;
        self.bytes -= msg.size();
        if self.queue.is_empty() && self.queue.capacity() > 64 {
            // A burst is over: give the memory back so an idle process stays small.
            self.queue = VecDeque::new();
        }
        Some(msg)
    }

    /// Removes and returns the first message for which `matches` is true.
    pub(crate) fn take_first(&mut self, mut matches: impl FnMut(&Msg) -> bool) -> Option<Msg> {
        let index = self.queue.iter().position(&mut matches)?;
        let msg = self.queue.remove(index)?;
        self.bytes -= msg.size();
        Some(msg)
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    /// Heap bytes held: the queue's buffer and the boxed messages.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.bytes + self.queue.capacity() * std::mem::size_of::<Msg>()
    }

    /// The first `n` messages rendered as text.
    pub(crate) fn peek_rendered(&self, n: usize) -> Vec<String> {
        self.queue.iter().take(n).map(Msg::render).collect()
    }

    pub(crate) fn take_all(&mut self) -> VecDeque<Msg> {
        self.bytes = 0;
        std::mem::take(&mut self.queue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_order_and_selective_take() {
        let mut mb = Mailbox::default();
        mb.push(Msg::new(1u32));
        mb.push(Msg::new("two"));
        mb.push(Msg::new(3u32));
        assert_eq!(mb.len(), 3);
        let s = mb.take_first(|m| m.is::<&str>()).expect("a &str is queued");
        assert_eq!(s.downcast::<&str>().ok(), Some("two"));
        assert_eq!(mb.pop().and_then(|m| m.downcast::<u32>().ok()), Some(1));
        assert_eq!(mb.peek_rendered(5), vec!["3".to_string()]);
        assert_eq!(mb.pop().and_then(|m| m.downcast::<u32>().ok()), Some(3));
        assert!(mb.pop().is_none());
        assert_eq!(mb.bytes, 0, "no message bytes are left counted");
    }

    #[test]
    fn downcast_to_the_wrong_type_gives_the_message_back() {
        let m = Msg::new(String::from("hello"));
        let m = m.downcast::<u64>().expect_err("not a u64");
        assert_eq!(m.render(), "\"hello\"");
    }
}
