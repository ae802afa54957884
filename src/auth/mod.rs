//! Credentials: API keys (hashed at rest), short-lived stream tokens (HMAC-signed, stateless) and
//! the cipher for outbound integration tokens and enrolled voiceprints (AES-256-GCM).

mod api_key;
mod stream_token;
mod token_cipher;

pub use api_key::{ApiKeySecret, hash_key};
pub use stream_token::{StreamClaims, StreamScope, StreamTokenError, StreamTokenSigner};
pub use token_cipher::{CipherError, TokenCipher, VoiceprintCipher};

/// A 32-byte key read from configuration as 64 hex digits or base64 (standard or URL-safe).
pub fn parse_key(text: &str) -> Result<[u8; 32], String> {
    use base64::Engine as _;
    let text = text.trim();
    let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..32)
            .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|e| e.to_string())?
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text))
            .map_err(|_| "expected 64 hex digits or base64 of 32 bytes".to_owned())?
    };
    bytes.try_into().map_err(|v: Vec<u8>| format!("expected 32 bytes, got {}", v.len()))
}
