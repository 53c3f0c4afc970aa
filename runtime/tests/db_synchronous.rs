//! `PoolConfig::synchronous` reaches every pool connection.

use crashcourse_runtime::db::{Pool, PoolConfig, Synchronous};
use crashcourse_runtime::{Runtime, RuntimeConfig};

fn pragma_through_pool(setting: Synchronous) -> i64 {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let rt = Runtime::start(RuntimeConfig::default());
    let mut config = PoolConfig::new(dir.path().join("chat.db"));
    config.pool_size = 2;
    config.synchronous = setting;
    let pool = Pool::start(&rt, config).expect("start the pool");
    rt.block_on(pool.run(|c| c.query_row("PRAGMA synchronous", [], |r| r.get(0))))
        .expect("read the pragma")
}

#[test]
fn the_pool_uses_normal_by_default_and_full_when_asked() {
    // SQLite reports synchronous as a number: 1 is NORMAL, 2 is FULL.
    assert_eq!(pragma_through_pool(Synchronous::default()), 1);
    assert_eq!(pragma_through_pool(Synchronous::Full), 2);
}
