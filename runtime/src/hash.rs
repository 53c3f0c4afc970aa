//! A fast hasher for the runtime's integer keys (pids, monitor refs). They are sequential
//! numbers, not attacker-chosen strings, so the key itself can be the hash: hashbrown picks the
//! bucket from the low bits, so sequential keys land in sequential buckets (a walk over pids in
//! spawn order stays in cache, as the BEAM's array-indexed process table does), and the top
//! seven bits, which hashbrown uses as a tag, are mixed so tags still tell keys apart.

use std::hash::{BuildHasherDefault, Hasher};

/// The key in the low bits, a multiplicative mix in the top seven.
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        const LOW: u64 = (1 << 57) - 1;
        self.0 = (n & LOW) | (n.wrapping_mul(0x9E37_79B9_7F4A_7C15) & !LOW);
    }
}

pub(crate) type IdBuildHasher = BuildHasherDefault<IdHasher>;
pub(crate) type IdMap<K, V> = std::collections::HashMap<K, V, IdBuildHasher>;
pub(crate) type IdSet<K> = std::collections::HashSet<K, IdBuildHasher>;
