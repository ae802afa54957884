use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use thiserror::Error;

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
        let mut nonce = [0u8; NONCE_LEN];
        rand::thread_rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), plaintext.as_bytes())
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{VERSION}{}", STANDARD.encode(out))
    }

    pub fn decrypt(&self, stored: &str) -> Result<String, CipherError> {
        let raw = stored
            .strip_prefix(VERSION)
            .and_then(|b64| STANDARD.decode(b64).ok())
            .filter(|raw| raw.len() > NONCE_LEN)
            .ok_or(CipherError::Format)?;
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let plain = self.cipher.decrypt(Nonce::from_slice(nonce), sealed).map_err(|_| CipherError::Decrypt)?;
        String::from_utf8(plain).map_err(|_| CipherError::Decrypt)
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
}
