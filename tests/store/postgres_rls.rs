//! PostgreSQL only: tenant isolation holds in the database itself. Raw SQL run as the
//! application role `authenticated_user` sees only the tenant named in `app.current_tenant_id`,
//! and fails closed when none is set.

use crate::common;

use ddalkkak::domain::{Role, ServiceType};
use ddalkkak::store::{ErrorRecord, ErrorTable, NewIntegration, NewMeeting, NewTask, NewUser};
use serde_json::json;
use sqlx::{Postgres, Row, Transaction};
use uuid::Uuid;

const TENANT_TABLES: [&str; 13] = [
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
];

async fn as_app_role(pool: &sqlx::PgPool, tenant: Option<Uuid>) -> Transaction<'static, Postgres> {
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SET LOCAL ROLE authenticated_user").execute(&mut *tx).await.unwrap();
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
    store.create_realtime_session(tid, member.id, Some(m.id), &format!("sock-{slug}")).await.unwrap();
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

    // As the owner (no RLS), both tenants' rows exist in every table.
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
    for table in ["users", "meetings", "tasks", "realtime_sessions", "integrations", "tenants"] {
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

#[tokio::test]
async fn every_tenant_table_has_rls_enabled_and_the_role_is_not_exempt() {
    let Some(db) = common::postgres().await else { return };
    let pool = db.pg.as_ref().unwrap().pool().clone();
    for table in TENANT_TABLES.iter().chain(&["tenants"]) {
        let (schema, name) = table.split_once('.').unwrap_or(("public", table));
        let enabled: bool = sqlx::query_scalar(
            "SELECT c.relrowsecurity FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = $2",
        )
        .bind(schema)
        .bind(name)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert!(enabled, "RLS on {table}");
    }
    let (superuser, bypass): (bool, bool) =
        sqlx::query_as("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = 'authenticated_user'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(!superuser && !bypass);
}
