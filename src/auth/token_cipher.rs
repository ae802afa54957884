use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use thiserror::Error;
use uuid::Uuid;

/// Encrypts outbound integration tokens (Slack's `xoxb-…`) at rest with AES-256-GCM (D-103,
/// D-165/D-186: done in the application rather than pgcrypto, so both backends share it).
/// Stored form: `v1:` + base64(nonce ‖ ciphertext ‖ tag). The key comes from configuration.
#[derive(Clone)]
pub struct TokenCipher {
    cipher: Aes256Gcm,
}

#[derive(Debug, Error)]
pub enum CipherError {
    #[error("stored token is not in the v1 format")]
    Format,
    #[error("stored token does not decrypt with the configured key")]
    Decrypt,
}

const VERSION: &str = "v1:";
const NONCE_LEN: usize = 12;

impl TokenCipher {
    pub fn new(key: &[u8; 32]) -> Self {
        Self { cipher: Aes256Gcm::new(key.into()) }
    }

    pub fn encrypt(&self, plaintext: &str) -> String {
        self.seal(plaintext.as_bytes(), b"")
    }

    pub fn decrypt(&self, stored: &str) -> Result<String, CipherError> {
        String::from_utf8(self.open(stored, b"")?).map_err(|_| CipherError::Decrypt)
    }

    /// `v1:` + base64(nonce ‖ ciphertext ‖ tag); `aad` is authenticated, not stored.
    fn seal(&self, plaintext: &[u8], aad: &[u8]) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand::thread_rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad })
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{VERSION}{}", STANDARD.encode(out))
    }

    fn open(&self, stored: &str, aad: &[u8]) -> Result<Vec<u8>, CipherError> {
        let raw = stored
            .strip_prefix(VERSION)
            .and_then(|b64| STANDARD.decode(b64).ok())
            .filter(|raw| raw.len() > NONCE_LEN)
            .ok_or(CipherError::Format)?;
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        self.cipher.decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad }).map_err(|_| CipherError::Decrypt)
    }
}

/// Voiceprints (speaker embeddings: biometric data) at rest, with the same AES-256-GCM key and
/// stored form as [`TokenCipher`]. The owner's id is authenticated with each one, so a sealed
/// voice copied onto another user's row does not open.
#[derive(Clone)]
pub struct VoiceprintCipher {
    cipher: TokenCipher,
}

impl VoiceprintCipher {
    pub fn new(key: &[u8; 32]) -> Self {
        Self { cipher: TokenCipher::new(key) }
    }

    pub fn seal(&self, user: Uuid, embedding: &[f32]) -> String {
        let bytes: Vec<u8> = embedding.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.cipher.seal(&bytes, &Self::aad(user))
    }

    pub fn open(&self, user: Uuid, stored: &str) -> Result<Vec<f32>, CipherError> {
        let bytes = self.cipher.open(stored, &Self::aad(user))?;
        if bytes.len() % 4 != 0 {
            return Err(CipherError::Format);
        }
        Ok(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
    }

    fn aad(user: Uuid) -> Vec<u8> {
        [b"voiceprint:".as_slice(), user.as_bytes()].concat()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_never_repeats_ciphertext() {
        let cipher = TokenCipher::new(&[7u8; 32]);
        let a = cipher.encrypt("xoxb-secret");
        let b = cipher.encrypt("xoxb-secret");
        assert_ne!(a, b, "a fresh nonce per encryption");
        assert!(!a.contains("xoxb"));
        assert_eq!(cipher.decrypt(&a).unwrap(), "xoxb-secret");
    }

    #[test]
    fn wrong_key_or_tampering_is_refused() {
        let stored = TokenCipher::new(&[1u8; 32]).encrypt("xoxb-secret");
        assert!(matches!(TokenCipher::new(&[2u8; 32]).decrypt(&stored), Err(CipherError::Decrypt)));
        let mut tampered = stored.clone().into_bytes();
        let last = tampered.len() - 3;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let cipher = TokenCipher::new(&[1u8; 32]);
        assert!(cipher.decrypt(std::str::from_utf8(&tampered).unwrap()).is_err());
        assert!(matches!(cipher.decrypt("plain"), Err(CipherError::Format)));
    }

    #[test]
    fn voiceprints_open_only_for_their_user() {
        let cipher = VoiceprintCipher::new(&[3u8; 32]);
        let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
        let voice = [0.25f32, -0.5, 1.0e-3, 0.0];
        let sealed = cipher.seal(alice, &voice);
        assert!(sealed.starts_with("v1:"));
        assert_eq!(cipher.open(alice, &sealed).unwrap(), voice);
        assert!(matches!(cipher.open(bob, &sealed), Err(CipherError::Decrypt)), "moved onto another user");
        assert!(VoiceprintCipher::new(&[4u8; 32]).open(alice, &sealed).is_err(), "another key");
    }
}
