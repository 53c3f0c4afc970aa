//! A set of pids that stays a small vector for the common case (a handful of links) and turns
//! into a hash set when it grows (a supervisor linked to 100,000 sockets).

use crate::hash::IdSet;
use crate::Pid;

/// Above this many pids the set switches to hashing.
const SMALL: usize = 16;

#[derive(Debug)]
pub(crate) enum PidSet {
    Small(Vec<Pid>),
    Large(Box<IdSet<Pid>>),
}

impl Default for PidSet {
    fn default() -> Self {
        PidSet::Small(Vec::new())
    }
}

impl PidSet {
    /// Adds `pid`; false if it was there already.
    pub(crate) fn insert(&mut self, pid: Pid) -> bool {
        match self {
            PidSet::Small(v) => {
                if v.contains(&pid) {
                    return false;
                }
                if v.len() < SMALL {
                    v.push(pid);
                } else {
                    let mut s: IdSet<Pid> = v.drain(..).collect();
                    s.insert(pid);
                    *self = PidSet::Large(Box::new(s));
                }
                true
            }
            PidSet::Large(s) => s.insert(pid),
        }
    }

    /// Removes `pid`; false if it was not there.
    pub(crate) fn remove(&mut self, pid: Pid) -> bool {
        match self {
            PidSet::Small(v) => match v.iter().position(|&p| p == pid) {
                Some(i) => {
                    v.swap_remove(i);
                    true
                }
                None => false,
            },
            PidSet::Large(s) => {
                let removed = s.remove(&pid);
                if s.is_empty() {
                    *self = PidSet::default();
                }
                removed
            }
        }
    }

    pub(crate) fn to_vec(&self) -> Vec<Pid> {
        let mut all: Vec<Pid> = match self {
            PidSet::Small(v) => v.clone(),
            PidSet::Large(s) => s.iter().copied().collect(),
        };
        all.sort();
        all
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        match self {
            PidSet::Small(v) => v.capacity() * std::mem::size_of::<Pid>(),
            PidSet::Large(s) => s.capacity() * (std::mem::size_of::<Pid>() + 1),
        }
    }

    pub(crate) fn take(&mut self) -> Vec<Pid> {
        match std::mem::take(self) {
            PidSet::Small(v) => v,
            PidSet::Large(s) => s.into_iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_into_a_hash_set_and_back() {
        let mut set = PidSet::default();
        for i in 0..100 {
            assert!(set.insert(Pid(i)));
        }
        assert!(!set.insert(Pid(5)));
        assert!(matches!(set, PidSet::Large(_)));
        assert_eq!(set.to_vec(), (0..100).map(Pid).collect::<Vec<_>>());
        for i in 0..100 {
            assert!(set.remove(Pid(i)));
        }
        assert!(!set.remove(Pid(1)));
        assert!(set.to_vec().is_empty());
        assert!(matches!(set, PidSet::Small(_)));
    }
}
