use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use thiserror::Error;
use utoipa::ToSchema;
use uuid::Uuid;

/// What a stream token lets its bearer do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StreamScope {
    /// Open a live transcription session (send audio).
    Stream,
    /// Watch captions of a live session, read-only.
    View,
    /// A signed-in browser page (the `ddk_session` cookie of `POST /v1/web-session`): the REST
    /// API as the key's user, never a live stream directly.
    Web,
}

/// The signed body of a stream token. Bound to a tenant and a user; a `View` token may be bound
/// to one session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamClaims {
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub scope: StreamScope,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<Uuid>,
    /// The prefix of the API key that minted the token. For `Web`: the key that signed in, so
    /// revoking the key ends the session; for `Stream`: the key whose live-session quota the
    /// token's sessions count against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_prefix: Option<String>,
    /// Expiry, Unix seconds.
    pub exp: i64,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum StreamTokenError {
    #[error("malformed stream token")]
    Malformed,
    #[error("stream token signature does not verify")]
    BadSignature,
    #[error("stream token expired")]
    Expired,
}

/// Mints and verifies `dst_<claims>.<mac>` tokens: stateless, so a browser page can hold one
/// instead of an API key, and short-lived (minutes), so a leaked one is worth little.
#[derive(Clone)]
pub struct StreamTokenSigner {
    key: [u8; 32],
}

const PREFIX: &str = "dst_";

impl StreamTokenSigner {
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes keys of any length")
    }

    pub fn sign(&self, claims: &StreamClaims) -> String {
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialize"));
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        let tag = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{PREFIX}{body}.{tag}")
    }

    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<StreamClaims, StreamTokenError> {
        let (body, tag) =
            token.strip_prefix(PREFIX).and_then(|rest| rest.split_once('.')).ok_or(StreamTokenError::Malformed)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| StreamTokenError::Malformed)?;
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        mac.verify_slice(&tag).map_err(|_| StreamTokenError::BadSignature)?;
        let claims: StreamClaims = URL_SAFE_NO_PAD
            .decode(body)
            .ok()
            .and_then(|json| serde_json::from_slice(&json).ok())
            .ok_or(StreamTokenError::Malformed)?;
        if claims.exp <= now.timestamp() {
            return Err(StreamTokenError::Expired);
        }
        Ok(claims)
    }

    /// Whether a presented credential is shaped like a stream token (rather than an API key).
    pub fn looks_like_token(presented: &str) -> bool {
        presented.starts_with(PREFIX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> StreamClaims {
        StreamClaims {
            tenant_id: Uuid::new_v4(),
            user_id: Uuid::new_v4(),
            scope: StreamScope::Stream,
            session_id: None,
            key_prefix: None,
            exp,
        }
    }

    #[test]
    fn verifies_its_own_tokens_until_expiry() {
        let signer = StreamTokenSigner::new([3u8; 32]);
        let now = Utc::now();
        let c = claims(now.timestamp() + 60);
        let token = signer.sign(&c);
        assert_eq!(signer.verify(&token, now), Ok(c));
        let later = now + chrono::Duration::seconds(61);
        assert_eq!(signer.verify(&token, later), Err(StreamTokenError::Expired));
    }

    #[test]
    fn rejects_other_keys_and_edited_claims() {
        let now = Utc::now();
        let token = StreamTokenSigner::new([3u8; 32]).sign(&claims(now.timestamp() + 60));
        let other = StreamTokenSigner::new([4u8; 32]);
        assert_eq!(other.verify(&token, now), Err(StreamTokenError::BadSignature));

        let signer = StreamTokenSigner::new([3u8; 32]);
        let forged_body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(i64::MAX)).unwrap());
        let tag = token.rsplit_once('.').unwrap().1;
        let forged = format!("dst_{forged_body}.{tag}");
        assert_eq!(signer.verify(&forged, now), Err(StreamTokenError::BadSignature));
        assert_eq!(signer.verify("dst_nodot", now), Err(StreamTokenError::Malformed));
        assert_eq!(signer.verify("Bearer x", now), Err(StreamTokenError::Malformed));
    }
}
