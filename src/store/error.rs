use thiserror::Error;

/// What a store call can fail with. Constraint violations carry the constraint's name, which is
/// the same in both backends' migrations, so the HTTP layer maps each one to a problem code once.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A named unique, check or foreign-key constraint refused the write (database layer, D-107a).
    #[error("constraint {0} violated")]
    Constraint(String),
    /// A business rule checked before writing refused it (D-107b, D-108 layer 2).
    #[error("{code}: {message}")]
    Rule { code: &'static str, field: &'static str, message: &'static str },
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

impl StoreError {
    pub(crate) fn rule(code: &'static str, field: &'static str, message: &'static str) -> Self {
        StoreError::Rule { code, field, message }
    }

    /// A row the request named by id (a host, an assignee, a meeting) that does not exist in the
    /// tenant is a [`StoreError::Rule`] on that field, not a 404 of the resource asked for; any
    /// other error is kept.
    pub(crate) fn missing_is_rule(self, code: &'static str, field: &'static str, message: &'static str) -> Self {
        match self {
            StoreError::NotFound => StoreError::rule(code, field, message),
            other => other,
        }
    }
}

/// Extracts the violated constraint's name. PostgreSQL reports it directly; SQLite only says
/// `UNIQUE constraint failed: tenants.slug` or `CHECK constraint failed: chk_x`, so column-level
/// unique constraints are named from their columns.
pub(crate) fn from_sqlx(err: sqlx::Error) -> StoreError {
    match err {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(ref db) => {
            if let Some(name) = db.constraint() {
                return StoreError::Constraint(name.to_owned());
            }
            let msg = db.message();
            let name = if let Some(rest) = msg.strip_prefix("CHECK constraint failed: ") {
                Some(rest.trim().to_owned())
            } else if let Some(rest) = msg.strip_prefix("UNIQUE constraint failed: ") {
                Some(sqlite_unique_name(rest.trim()))
            } else if msg.starts_with("FOREIGN KEY constraint failed") {
                Some("foreign_key".to_owned())
            } else {
                None
            };
            match name {
                Some(name) => StoreError::Constraint(name),
                None => StoreError::Database(err),
            }
        }
        other => StoreError::Database(other),
    }
}

fn sqlite_unique_name(columns: &str) -> String {
    if let Some(index) = columns.strip_prefix("index '") {
        return index.trim_end_matches('\'').to_owned();
    }
    match columns {
        "tenants.slug" => "uq_tenants_slug",
        "integrations.tenant_id, integrations.service_type" => "uq_integrations_tenant_service",
        "api_keys.prefix" => "uq_api_keys_prefix",
        "usage_stats.tenant_id, usage_stats.date" => "uq_usage_stats_tenant_date",
        "realtime_sessions.socket_id" => "uq_realtime_sessions_active_socket",
        "realtime_sessions.meeting_id" => "uq_realtime_sessions_meeting",
        "users.tenant_id, users.email" => "uq_users_tenant_email",
        "users.tenant_id" => "uq_users_tenant_owner",
        other => other,
    }
    .to_owned()
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        from_sqlx(err)
    }
}
