use rand::Rng;
use rand::distributions::Alphanumeric;
use sha2::{Digest, Sha256};

/// A freshly minted API key: `dk_<prefix>_<secret>`. The full text is shown once; the database
/// keeps the prefix (to find the row) and the SHA-256 of the whole key (to check it). The secret
/// has ~190 bits of entropy, so a fast hash is enough: there is nothing to brute-force.
pub struct ApiKeySecret {
    pub prefix: String,
    pub full: String,
}

const PREFIX_LEN: usize = 12;
const SECRET_LEN: usize = 32;

impl ApiKeySecret {
    pub fn generate() -> Self {
        let mut rng = rand::thread_rng();
        let mut pick = |n| -> String {
            (&mut rng).sample_iter(&Alphanumeric).take(n).map(|c| char::from(c).to_ascii_lowercase()).collect()
        };
        let prefix = pick(PREFIX_LEN);
        let full = format!("dk_{prefix}_{}", pick(SECRET_LEN));
        Self { prefix, full }
    }

    pub fn hash(&self) -> Vec<u8> {
        hash_key(&self.full)
    }

    /// Splits a presented key into its prefix, or `None` when it is not shaped like one of ours.
    pub fn prefix_of(presented: &str) -> Option<&str> {
        let rest = presented.strip_prefix("dk_")?;
        let (prefix, secret) = rest.split_once('_')?;
        let well_formed = prefix.len() == PREFIX_LEN
            && secret.len() == SECRET_LEN
            && rest.bytes().all(|b| b == b'_' || b.is_ascii_alphanumeric());
        well_formed.then_some(prefix)
    }
}

pub fn hash_key(full: &str) -> Vec<u8> {
    Sha256::digest(full.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_back_to_their_prefix() {
        let key = ApiKeySecret::generate();
        assert_eq!(ApiKeySecret::prefix_of(&key.full), Some(key.prefix.as_str()));
        assert_eq!(key.hash().len(), 32);
        assert_ne!(ApiKeySecret::generate().full, key.full);
    }

    #[test]
    fn malformed_keys_have_no_prefix() {
        for bad in [
            "",
            "dk_",
            "dk_short_secret",
            "xx_abcdefghijkl_abcdefghijklmnopqrstuvwxyz012345",
            "dk_abcdefghijkl_!bcdefghijklmnopqrstuvwxyz012345",
        ] {
            assert_eq!(ApiKeySecret::prefix_of(bad), None, "{bad}");
        }
    }
}
