//! API keys: random, high-entropy, and stored only as a hash.
//!
//! A key carries 128 random bits, so a plain SHA-256 cannot be reversed or
//! brute-forced, and looking an account up by the hash leaks nothing useful
//! through timing: an attacker learns at most how long an equal hash prefix
//! was, which says nothing about any key.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A fresh key: 16 random bytes in URL-safe base64 without padding (22 characters,
/// the length horde-sdk accepts).
pub fn generate_key() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The form in which a key is stored and looked up.
pub fn hash_key(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_the_length_clients_accept_and_differ() {
        let a = generate_key();
        let b = generate_key();
        assert_eq!(a.len(), 22);
        assert_ne!(a, b);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }

    #[test]
    fn hash_is_stable_and_hides_the_key() {
        let key = "abcdefghijklmnopqrstuv";
        assert_eq!(hash_key(key), hash_key(key));
        assert_eq!(hash_key(key).len(), 64);
        assert!(!hash_key(key).contains(key));
    }
}
