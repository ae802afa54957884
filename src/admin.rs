//! Tenant administration used by `ddalkkak admin …` (and by tests to set up tenants).

use uuid::Uuid;

use crate::auth::ApiKeySecret;
use crate::domain::{Role, Tenant, User};
use crate::storage::RecordingStorage;
use crate::store::{NewApiKey, NewUser, Store, StoreError};
use crate::validate::{FieldError, Validator};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("invalid input: {}", .0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    #[error("a tenant with slug {0:?} already exists")]
    SlugTaken(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A new tenant, its OWNER, and the owner's API key in clear text (not stored anywhere).
pub struct CreatedTenant {
    pub tenant: Tenant,
    pub owner: User,
    pub api_key: String,
}

pub async fn create_tenant(
    store: &dyn Store,
    name: &str,
    slug: &str,
    owner_email: &str,
    owner_name: Option<&str>,
) -> Result<CreatedTenant, AdminError> {
    let email = owner_email.trim().to_lowercase();
    let owner_name =
        owner_name.map(str::to_owned).unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_owned());
    let mut v = Validator::new();
    v.text("name", name, 100).slug("slug", slug).email("owner_email", &email).text("owner_name", &owner_name, 100);
    v.finish().map_err(AdminError::Invalid)?;

    let secret = ApiKeySecret::generate();
    let owner = NewUser { email, name: owner_name.trim().to_owned(), role: Role::Owner, slack_user_id: None };
    let key =
        NewApiKey { user_id: None, name: "owner key".into(), prefix: secret.prefix.clone(), key_hash: secret.hash() };
    match store.create_tenant(name.trim(), slug, owner, key).await {
        Ok((tenant, owner, _)) => Ok(CreatedTenant { tenant, owner, api_key: secret.full }),
        Err(StoreError::Constraint(c)) if c == "uq_tenants_slug" => Err(AdminError::SlugTaken(slug.to_owned())),
        Err(e) => Err(e.into()),
    }
}

/// Deletes a tenant and everything it owns (D-089), then its recordings' files (`None`: the
/// server keeps none); `DELETE /v1/tenant` and `ddalkkak admin delete-tenant` both go through
/// here. Files that cannot be removed are logged, not an error: the tenant is gone either way.
pub async fn delete_tenant(
    store: &dyn Store,
    recordings: Option<&RecordingStorage>,
    tenant: Uuid,
) -> Result<(), StoreError> {
    store.delete_tenant(tenant).await?;
    if let Some(recordings) = recordings {
        recordings.discard_tenant(tenant).await;
    }
    Ok(())
}

/// First start of the embedded single-node server: with no tenant at all, create tenant
/// `default` and write its owner's API key to `path` (mode 0600) so the quick start works without
/// a separate command. Returns the path when it created one. Never runs against PostgreSQL.
pub async fn bootstrap_embedded(store: &dyn Store, path: &std::path::Path) -> anyhow::Result<bool> {
    if store.count_tenants().await? > 0 {
        return Ok(false);
    }
    let created = create_tenant(store, "Default", "default", "owner@example.com", Some("Owner")).await?;
    std::fs::create_dir_all(path.parent().unwrap_or(std::path::Path::new(".")))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(path)?, format!("{}\n", created.api_key).as_bytes())?;
    Ok(true)
}
