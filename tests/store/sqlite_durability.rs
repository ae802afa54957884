//! SQLite only: the durability asked for (`--sqlite-synchronous`, `DDALKKAK_SQLITE_SYNCHRONOUS`)
//! reaches every connection of the pool, over the WAL journal.

use clap::Parser;
use ddalkkak::config::{Cli, Command};
use ddalkkak::store::SqliteStore;

/// `PRAGMA synchronous` (1 NORMAL, 2 FULL) and `journal_mode` of each of the pool's connections.
async fn settings(url: &str) -> Vec<(i64, String)> {
    let store = SqliteStore::connect(url, 3).await.unwrap();
    // Hold them all at once, so each connection is read, not one of them three times.
    let mut connections = Vec::new();
    for _ in 0..3 {
        connections.push(store.pool().acquire().await.unwrap());
    }
    let mut out = Vec::new();
    for c in &mut connections {
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(&mut **c).await.unwrap();
        let journal: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&mut **c).await.unwrap();
        out.push((synchronous, journal));
    }
    out
}

fn db_url(args: &[&str]) -> anyhow::Result<String> {
    let Command::Migrate(db) = Cli::try_parse_from([&["ddalkkak", "migrate"][..], args].concat())?.command else {
        unreachable!("parsed `migrate`")
    };
    db.url()
}

#[tokio::test]
async fn synchronous_is_normal_by_default_and_full_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let normal = db_url(&["--data-dir", data]).unwrap();
    assert_eq!(settings(&normal).await, vec![(1, "wal".to_owned()); 3]);
    let full = db_url(&["--data-dir", data, "--sqlite-synchronous", "full"]).unwrap();
    assert_eq!(settings(&full).await, vec![(2, "wal".to_owned()); 3]);
    let explicit = db_url(&["--data-dir", data, "--sqlite-synchronous", "normal"]).unwrap();
    assert_eq!(settings(&explicit).await, vec![(1, "wal".to_owned()); 3]);

    // Only the two documented levels; and never silently ignored on PostgreSQL.
    assert!(db_url(&["--sqlite-synchronous", "off"]).is_err());
    assert!(SqliteStore::connect(&format!("{normal}&synchronous=off"), 1).await.is_err());
    let pg = db_url(&["--database-url", "postgres://localhost/x", "--sqlite-synchronous", "full"]);
    assert!(pg.unwrap_err().to_string().contains("SQLite only"));
}
