//! Where the peers live: `bench/peers/` in this repository (found through the crate's own
//! source directory, so no setup is needed), or `$CRASHCOURSE_PEERS` when set.

use std::path::{Path, PathBuf};

use crate::BenchError;

/// The environment variable that points at another peers directory.
pub const PEERS_ENV: &str = "CRASHCOURSE_PEERS";

/// The peers directory: `$CRASHCOURSE_PEERS` if set and non-empty, else `bench/peers/` of this
/// source tree.
pub fn peers_dir() -> PathBuf {
    match std::env::var_os(PEERS_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("peers"),
    }
}

/// The runner script `name` in the peers directory, or an error naming where it was looked for.
pub fn find_peer(name: &str) -> Result<PathBuf, BenchError> {
    let path = peers_dir().join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(BenchError::new(format!(
            "the peer {name} is not at {} (set {PEERS_ENV} to the directory holding it)",
            path.display()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_runner_scripts_are_found_without_any_setting() {
        if std::env::var_os(PEERS_ENV).is_some() {
            return; // Somebody points elsewhere on purpose.
        }
        for name in ["node-chat-peer", "erlang-peer"] {
            let p = find_peer(name).expect("the peer is in the repository");
            assert!(
                p.ends_with(Path::new("peers").join(name)),
                "{}",
                p.display()
            );
        }
        assert!(find_peer("no-such-peer").is_err());
    }
}
