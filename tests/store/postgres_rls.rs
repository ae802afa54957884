//! PostgreSQL only: tenant isolation holds in the database itself. Raw SQL run as the
//! application role `authenticated_user` sees only the tenant named in `app.current_tenant_id`,
//! and fails closed when none is set; the server's login `ddalkkak_app` reads nothing by itself;
//! the system role `ddalkkak_system` reads every tenant and writes only what its policies name;
//! row-level security is forced on every table, so it binds the owner too.

use crate::common;

use ddalkkak::domain::{Role, ServiceType};
use ddalkkak::store::{
    ErrorRecord, ErrorTable, NewFinal, NewIntegration, NewMeeting, NewRecording, NewTask, NewUser, PurgeCutoffs,
};
use serde_json::json;
use sqlx::{Postgres, Row, Transaction};
use uuid::Uuid;

/// Every table with a `tenant_id` (`tenants` is the tenants' own table).
const TENANT_TABLES: [&str; 18] = [
    "users",
    "meetings",
    "tasks",
    "realtime_sessions",
    "integrations",
    "api_keys",
    "notifications",
    "usage_stats",
    "meetings_error",
    "ai_error_log",
    "integration_error_log",
    "quarantine.records",
    "voiceprints",
    "transcript_finals",
    "jobs",
    "web_sessions",
    "recordings",
    "transcript_versions",
];

async fn as_app_role(pool: &sqlx::PgPool, tenant: Option<Uuid>) -> Transaction<'static, Postgres> {
    as_role(pool, "authenticated_user", tenant).await
}

async fn as_role(pool: &sqlx::PgPool, role: &str, tenant: Option<Uuid>) -> Transaction<'static, Postgres> {
    let mut tx = pool.begin().await.unwrap();
    sqlx::query(&format!("SET LOCAL ROLE {role}")).execute(&mut *tx).await.unwrap();
    if let Some(t) = tenant {
        sqlx::query("SELECT set_config('app.current_tenant_id', $1, true)")
            .bind(t.to_string())
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx
}

async fn seed(store: &dyn ddalkkak::store::Store, slug: &str) -> Uuid {
    let t = common::tenant(store, slug).await;
    let tid = t.tenant.id;
    let member = store
        .create_user(
            tid,
            NewUser { email: format!("m@{slug}.com"), name: "M".into(), role: Role::Member, slack_user_id: None },
        )
        .await
        .unwrap();
    let new_meeting = NewMeeting {
        title: "m".into(),
        host_id: member.id,
        audio_file_url: None,
        audio_duration: None,
        stt_status: ddalkkak::domain::SttStatus::Pending,
    };
    let m = store.create_meeting(tid, new_meeting).await.unwrap();
    let task = NewTask {
        meeting_id: Some(m.id),
        title: "t".into(),
        description: None,
        status: ddalkkak::domain::TaskStatus::Todo,
        assignee_id: Some(member.id),
        due_date: None,
        is_ai_generated: true,
    };
    store.create_task(tid, task).await.unwrap();
    // A session with a final, ended: its meeting queues an intelligence job.
    let session = store.create_realtime_session(tid, member.id, Some(m.id), &format!("sock-{slug}")).await.unwrap();
    let final_ = NewFinal {
        session_id: session.id,
        meeting_id: m.id,
        seq: 0,
        start_ms: 0,
        end_ms: 1_000,
        speaker: None,
        text: "hello".into(),
        words: vec![],
    };
    store.append_final(tid, final_).await.unwrap();
    store.finalize_live_session(tid, session.id, Some(1.0), None, &Default::default()).await.unwrap();
    // And one still live.
    store.create_realtime_session(tid, member.id, None, &format!("live-{slug}")).await.unwrap();
    let recorded = NewMeeting {
        title: "r".into(),
        host_id: member.id,
        audio_file_url: None,
        audio_duration: None,
        stt_status: ddalkkak::domain::SttStatus::Pending,
    };
    let recorded = store.create_meeting(tid, recorded).await.unwrap();
    let recording = NewRecording {
        storage_key: format!("{slug}.wav"),
        source_url: None,
        format: "wav".into(),
        bytes: 44,
        language: None,
        model: None,
        diarize: false,
        keyterms: Vec::new(),
        duration_ms: None,
        callback: None,
    };
    store.attach_recording(tid, recorded.id, recording).await.unwrap();
    let key = store.list_api_keys(tid, None).await.unwrap()[0].id;
    store.create_web_session(tid, member.id, key, chrono::Utc::now() + chrono::Duration::hours(1)).await.unwrap();
    let integration =
        NewIntegration { service_type: ServiceType::Slack, access_token: None, is_active: true, channel: None };
    store.create_integration(tid, integration).await.unwrap();
    store.create_notification(tid, member.id, "t", "hello").await.unwrap();
    for table in [ErrorTable::Meetings, ErrorTable::Ai, ErrorTable::Integration] {
        let e = ErrorRecord { table, subject_id: None, trace_id: None, payload: json!({}), error: "e".into() };
        store.record_error(tid, e).await.unwrap();
    }
    store.quarantine(Some(tid), "meetings", None, json!({}), "bad").await.unwrap();
    store.put_voiceprint(tid, member.id, "v1:sealed", "m", 6_000).await.unwrap();
    tid
}

#[tokio::test]
async fn app_role_sees_only_the_current_tenant() {
    let Some(db) = common::postgres().await else { return };
    let pool = db.pg.as_ref().unwrap().pool().clone();
    let a = seed(&*db.store, "alpha").await;
    let b = seed(&*db.store, "beta").await;

    // As the superuser that created the database (RLS does not bind it), both tenants' rows exist.
    for table in TENANT_TABLES {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE tenant_id = $1"))
            .bind(a)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert!(n >= 1, "{table} has rows of tenant a");
    }

    let mut tx = as_app_role(&pool, Some(b)).await;
    for table in TENANT_TABLES {
        let theirs: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE tenant_id = $1"))
            .bind(a)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(theirs, 0, "{table}: another tenant's rows are invisible");
        let other: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE tenant_id <> $1"))
            .bind(b)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(other, 0, "{table}: only the current tenant's rows, even unfiltered");
        let own: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}")).fetch_one(&mut *tx).await.unwrap();
        assert!(own >= 1, "{table}: own rows visible");
    }
    let tenants: Vec<Uuid> =
        sqlx::query("SELECT id FROM tenants").fetch_all(&mut *tx).await.unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(tenants, vec![b]);
    // Updates and deletes of the other tenant's rows touch nothing.
    let changed = sqlx::query("UPDATE meetings SET title = 'pwned' WHERE tenant_id = $1")
        .bind(a)
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(changed.rows_affected(), 0);
    let deleted = sqlx::query("DELETE FROM users WHERE tenant_id = $1").bind(a).execute(&mut *tx).await.unwrap();
    assert_eq!(deleted.rows_affected(), 0);
    tx.rollback().await.unwrap();

    // Writing a row into another tenant is refused by WITH CHECK.
    let mut tx = as_app_role(&pool, Some(b)).await;
    let insert = sqlx::query("INSERT INTO tasks (id, tenant_id, title) VALUES ($1, $2, 'smuggled')")
        .bind(Uuid::new_v4())
        .bind(a)
        .execute(&mut *tx)
        .await;
    let err = insert.expect_err("insert into another tenant must fail").to_string();
    assert!(err.contains("row-level security"), "{err}");
    tx.rollback().await.unwrap();
}

#[tokio::test]
async fn app_role_without_a_tenant_fails_closed() {
    let Some(db) = common::postgres().await else { return };
    let pool = db.pg.as_ref().unwrap().pool().clone();
    seed(&*db.store, "alpha").await;
    for table in TENANT_TABLES.iter().chain(&["tenants"]) {
        let mut tx = as_app_role(&pool, None).await;
        let result = sqlx::query(&format!("SELECT COUNT(*) FROM {table}")).fetch_one(&mut *tx).await;
        assert!(result.is_err(), "{table} readable without a tenant");
        tx.rollback().await.unwrap();
    }
    // The setting ends with its transaction, so a pooled connection never leaks a tenant.
    let mut conn = pool.acquire().await.unwrap();
    let mut tx = sqlx::Connection::begin(&mut *conn).await.unwrap();
    sqlx::query("SET LOCAL app.current_tenant_id = '00000000-0000-0000-0000-000000000001'")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let after: String = sqlx::query_scalar("SELECT current_setting('app.current_tenant_id', true)")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(after, "");
}

/// Every table of the schema, from the catalog: `TENANT_TABLES` and `tenants` must be all of them.
async fn schema_tables(pool: &sqlx::PgPool) -> Vec<String> {
    let mut tables: Vec<String> = sqlx::query_scalar(
        "SELECT CASE WHEN n.nspname = 'public' THEN c.relname::text ELSE n.nspname || '.' || c.relname END \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname IN ('public', 'quarantine') AND c.relkind IN ('r', 'p') AND c.relname <> '_sqlx_migrations'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    tables.sort();
    tables
}

#[tokio::test]
async fn every_table_forces_rls_with_a_policy_for_each_role() {
    let Some(db) = common::postgres().await else { return };
    let pool = db.pg.as_ref().unwrap().pool().clone();
    let mut expected: Vec<String> = TENANT_TABLES.iter().chain(&["tenants"]).map(|t| t.to_string()).collect();
    expected.sort();
    assert_eq!(schema_tables(&pool).await, expected, "a new table must be listed here, and get RLS in its migration");
    for table in &expected {
        let (schema, name) = table.split_once('.').unwrap_or(("public", table));
        let (enabled, forced): (bool, bool) = sqlx::query_as(
            "SELECT c.relrowsecurity, c.relforcerowsecurity FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
        )
        .bind(schema)
        .bind(name)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert!(enabled, "RLS on {table}");
        assert!(forced, "RLS forced on {table}: the owner is bound too");
        let policies: Vec<(String, String)> = sqlx::query_as(
            "SELECT r.rolname::text, p.cmd FROM pg_policies p, unnest(p.roles) AS r(rolname) \
             WHERE p.schemaname = $1 AND p.tablename = $2",
        )
        .bind(schema)
        .bind(name)
        .fetch_all(&pool)
        .await
        .unwrap();
        assert!(policies.contains(&("authenticated_user".into(), "ALL".into())), "{table}: {policies:?}");
        assert!(policies.contains(&("ddalkkak_system".into(), "SELECT".into())), "{table}: {policies:?}");
        assert!(policies.iter().all(|(role, _)| role != "public"), "{table}: no policy for every role");
    }
}

#[tokio::test]
async fn the_server_login_is_no_owner_no_superuser_and_reads_nothing_itself() {
    let Some(db) = common::postgres().await else { return };
    seed(&*db.store, "alpha").await;
    let owner = db.pg.as_ref().unwrap().pool().clone();
    let app = db.pg_app.as_ref().unwrap().pool().clone();

    let login: String = sqlx::query_scalar("SELECT session_user::text").fetch_one(&app).await.unwrap();
    assert_eq!(login, "ddalkkak_app");
    for role in ["ddalkkak_app", "authenticated_user", "ddalkkak_system"] {
        let (superuser, bypass, createrole, createdb): (bool, bool, bool, bool) = sqlx::query_as(
            "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = $1",
        )
        .bind(role)
        .fetch_one(&owner)
        .await
        .unwrap();
        assert!(!superuser && !bypass && !createrole && !createdb, "{role} is exempt or privileged");
        let owned: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname IN ('public', 'quarantine') AND pg_get_userbyid(c.relowner) = $1",
        )
        .bind(role)
        .fetch_one(&owner)
        .await
        .unwrap();
        assert_eq!(owned, 0, "{role} owns tables");
    }
    let inherits: bool = sqlx::query_scalar("SELECT rolinherit FROM pg_roles WHERE rolname = 'ddalkkak_app'")
        .fetch_one(&owner)
        .await
        .unwrap();
    assert!(!inherits, "the login has no privilege of its own: it must switch role");
    // Without switching role, and without a tenant, the login reads no table at all.
    for table in TENANT_TABLES.iter().chain(&["tenants"]) {
        let err = sqlx::query(&format!("SELECT COUNT(*) FROM {table}")).fetch_one(&app).await.unwrap_err();
        assert!(err.to_string().contains("permission denied"), "{table}: {err}");
    }
}

#[tokio::test]
async fn without_a_tenant_the_server_roles_see_no_tenant_rows_of_finals_and_jobs() {
    let Some(db) = common::postgres().await else { return };
    let a = seed(&*db.store, "alpha").await;
    let app = db.pg_app.as_ref().unwrap().pool().clone();
    for table in ["transcript_finals", "jobs"] {
        // The server's login, without switching role: no rows of any tenant.
        let seen: Result<i64, _> = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE tenant_id = $1"))
            .bind(a)
            .fetch_one(&app)
            .await;
        assert!(!matches!(seen, Ok(n) if n > 0), "{table}: the server's login reads a tenant's rows");
        // The tenant role fails closed.
        let mut tx = as_app_role(&app, None).await;
        let seen = sqlx::query(&format!("SELECT COUNT(*) FROM {table} WHERE tenant_id = $1"))
            .bind(a)
            .fetch_one(&mut *tx)
            .await;
        assert!(seen.is_err(), "{table} readable by the tenant role without a tenant");
        tx.rollback().await.unwrap();
        // Another tenant's scope sees none of them.
        let mut tx = as_app_role(&app, Some(Uuid::new_v4())).await;
        let seen: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}")).fetch_one(&mut *tx).await.unwrap();
        assert_eq!(seen, 0, "{table}");
        tx.rollback().await.unwrap();
    }
}

#[tokio::test]
async fn the_system_role_reads_every_tenant_and_writes_only_what_its_policies_name() {
    let Some(db) = common::postgres().await else { return };
    let a = seed(&*db.store, "alpha").await;
    let b = seed(&*db.store, "beta").await;
    let app = db.pg_app.as_ref().unwrap().pool().clone();
    let system = || as_role(&app, "ddalkkak_system", None);

    let mut tx = system().await;
    for table in TENANT_TABLES {
        let tenants: i64 = sqlx::query_scalar(&format!("SELECT COUNT(DISTINCT tenant_id) FROM {table}"))
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(tenants, 2, "{table}: the system role reads every tenant");
    }
    tx.rollback().await.unwrap();

    // Writes it has no privilege for.
    for sql in [
        "UPDATE meetings SET title = 'pwned'",
        "DELETE FROM transcript_finals",
        "INSERT INTO tasks (id, tenant_id, title) VALUES (gen_random_uuid(), $1, 'smuggled')",
        "DELETE FROM tenants WHERE id = $1",
        "UPDATE users SET role = 'OWNER' WHERE tenant_id = $1",
    ] {
        let mut tx = system().await;
        let err = sqlx::query(sql).bind(a).execute(&mut *tx).await.unwrap_err().to_string();
        assert!(err.contains("permission denied"), "{sql}: {err}");
        tx.rollback().await.unwrap();
    }
    // Writes its policies refuse: a job succeeds only in its tenant's transaction; a tenant's
    // quarantine row is written in the tenant's scope.
    for sql in [
        "UPDATE jobs SET status = 'SUCCEEDED' WHERE tenant_id = $1",
        "INSERT INTO quarantine.records (tenant_id, source_table, payload, reason) VALUES ($1, 't', '{}', 'r')",
    ] {
        let mut tx = system().await;
        let err = sqlx::query(sql).bind(a).execute(&mut *tx).await.unwrap_err().to_string();
        assert!(err.contains("row-level security"), "{sql}: {err}");
        tx.rollback().await.unwrap();
    }
    // Retention deletes ended sessions only.
    let mut tx = system().await;
    let live = sqlx::query("DELETE FROM realtime_sessions WHERE status = 'ACTIVE'").execute(&mut *tx).await.unwrap();
    assert_eq!(live.rows_affected(), 0);
    let ended = sqlx::query("DELETE FROM realtime_sessions WHERE status = 'ENDED'").execute(&mut *tx).await.unwrap();
    assert_eq!(ended.rows_affected(), 2);
    tx.rollback().await.unwrap();

    // The store's system work crosses tenants through this role, logged in as the server is.
    let s = &*db.store;
    assert_eq!(s.count_tenants().await.unwrap(), 2);
    assert_eq!(s.tenant_by_slug("beta").await.unwrap().id, b);
    let stale = s.stale_sessions(chrono::Utc::now() + chrono::Duration::hours(1)).await.unwrap();
    assert_eq!(stale.iter().map(|r| r.tenant_id).collect::<std::collections::BTreeSet<_>>(), [a, b].into());
    let mut claimed = std::collections::BTreeSet::new();
    while let Some(job) = s.claim_job("meeting_intelligence", chrono::Duration::minutes(5)).await.unwrap() {
        claimed.insert(job.tenant_id);
        s.settle_job(&job, ddalkkak::store::JobSettlement::Fail { error: "test".into() }).await.unwrap();
    }
    assert_eq!(claimed, [a, b].into());
    s.quarantine(None, "meetings", None, json!({}), "no tenant").await.unwrap();
    let past = chrono::Utc::now() + chrono::Duration::hours(1);
    let cutoffs = PurgeCutoffs {
        meetings_error: past,
        ai_error_log: past,
        integration_error_log: past,
        quarantine: past,
        ended_sessions: past,
        deleted_meeting_recordings: past,
        now: past,
    };
    let purged = s.purge_expired(cutoffs).await.unwrap();
    assert_eq!((purged.ended_sessions, purged.meetings_error, purged.quarantine), (2, 2, 3));
    let report = s.verify().await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert!(report.row_counts.iter().any(|(t, n)| t == "meetings" && *n == 4), "{:?}", report.row_counts);
    s.delete_tenant(a).await.unwrap();
    assert_eq!(s.count_tenants().await.unwrap(), 1);
}

/// Drops the database, then the role, of [`a_non_superuser_owner_migrates_and_is_bound_by_forced_rls`]
/// (roles belong to the cluster: a role left behind would outlive the test run).
struct OwnerGuard {
    admin_url: String,
    database: String,
    role: String,
}

impl Drop for OwnerGuard {
    fn drop(&mut self) {
        let (url, database, role) = (self.admin_url.clone(), self.database.clone(), self.role.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                if let Ok(pool) = sqlx::PgPool::connect(&url).await {
                    let _ =
                        sqlx::query(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)")).execute(&pool).await;
                    let _ = sqlx::query(&format!("DROP ROLE IF EXISTS {role}")).execute(&pool).await;
                }
            });
        })
        .join();
    }
}

/// An owner as a managed PostgreSQL gives one (no superuser, CREATEROLE): the migrations run as it
/// on a fresh database, and forced RLS binds it, so even the owner writes no tenant's rows
/// without that tenant's scope.
#[tokio::test]
async fn a_non_superuser_owner_migrates_and_is_bound_by_forced_rls() {
    let Ok(admin_url) = std::env::var(common::PG_ENV) else { return };
    let suffix = Uuid::new_v4().simple().to_string();
    let guard = OwnerGuard {
        admin_url: admin_url.clone(),
        database: format!("ddalkkak_test_{suffix}"),
        role: format!("ddalkkak_owner_{suffix}"),
    };
    let admin = sqlx::PgPool::connect(&admin_url).await.unwrap();
    sqlx::query(&format!("CREATE ROLE {} LOGIN CREATEROLE", guard.role)).execute(&admin).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {} OWNER {}", guard.database, guard.role)).execute(&admin).await.unwrap();
    admin.close().await;
    let url = common::database_url_with_user(&common::database_url_with_name(&admin_url, &guard.database), &guard.role);

    let store = ddalkkak::store::PgStore::connect(&url, 2).await.expect("a non-superuser owner migrates");
    let s: &dyn ddalkkak::store::Store = &store;
    let a = common::tenant(s, "alpha").await.tenant.id;
    let pool = store.pool().clone();
    let superuser: bool = sqlx::query_scalar("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(!superuser);
    for sql in [
        "UPDATE users SET name = 'pwned' WHERE tenant_id = $1",
        "DELETE FROM api_keys WHERE tenant_id = $1",
        "INSERT INTO meetings (id, tenant_id, title, host_id) \
         SELECT gen_random_uuid(), $1, 'smuggled', id FROM users WHERE tenant_id = $1",
    ] {
        let mut tx = pool.begin().await.unwrap();
        // Refused outright (the tenant policies need a tenant) or filtered to nothing.
        let done = sqlx::query(sql).bind(a).execute(&mut *tx).await.map(|r| r.rows_affected());
        assert!(!matches!(done, Ok(n) if n > 0), "the owner wrote past RLS: {sql}");
        tx.rollback().await.unwrap();
    }
    // The store itself works through the bound roles.
    assert_eq!(s.count_tenants().await.unwrap(), 1);
    s.delete_tenant(a).await.unwrap();
    pool.close().await;
    drop(guard);
}
