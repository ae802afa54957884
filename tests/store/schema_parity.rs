//! Both backends carry the same schema: the same migration versions, and the same tables with
//! the same columns (PostgreSQL's `quarantine.records` is `quarantine_records` in SQLite).

use crate::common;

use std::collections::{BTreeMap, BTreeSet};

fn versions(dir: &str) -> BTreeSet<String> {
    std::fs::read_dir(format!("{}/migrations/{dir}", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().split('_').next().unwrap().to_owned())
        .collect()
}

#[test]
fn migration_versions_match() {
    let pg = versions("postgres");
    assert!(!pg.is_empty());
    assert_eq!(pg, versions("sqlite"));
}

type Columns = BTreeMap<String, BTreeSet<String>>;

fn collect(rows: Vec<(String, String)>) -> Columns {
    let mut out = Columns::new();
    for (table, column) in rows {
        out.entry(table).or_default().insert(column);
    }
    out
}

#[tokio::test]
async fn tables_and_columns_match() {
    let lite = common::sqlite().await;
    let pool = sqlx::SqlitePool::connect(lite.sqlite_url.as_deref().unwrap()).await.unwrap();
    let sqlite: Vec<(String, String)> = sqlx::query_as(
        "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p \
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let sqlite = collect(sqlite);
    for table in
        ["tenants", "users", "meetings", "tasks", "realtime_sessions", "integrations", "notifications", "usage_stats"]
    {
        assert!(sqlite.contains_key(table), "{table} exists");
    }
    assert!(
        sqlite["users"].contains("deleted_at")
            && sqlite["meetings"].contains("deleted_at")
            && sqlite["tasks"].contains("deleted_at")
    );

    let Some(pg) = common::postgres().await else { return };
    let pg_rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT CASE WHEN table_schema = 'quarantine' THEN 'quarantine_records' ELSE table_name::text END, \
         column_name::text FROM information_schema.columns \
         WHERE table_schema IN ('public', 'quarantine') AND table_name <> '_sqlx_migrations'",
    )
    .fetch_all(pg.pg.as_ref().unwrap().pool())
    .await
    .unwrap();
    assert_eq!(collect(pg_rows), sqlite);
}
