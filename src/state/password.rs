//! RabbitMQ password hashes, so that a plan can tell "same password" from "changed" without
//! ever printing either, and so that apply can send a hash instead of the password.
//!
//! The broker's default `rabbit_password_hashing_sha256` stores
//! `base64(salt ++ sha256(salt ++ utf8(password)))` with a 4-byte random salt.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256, Sha512};

/// The algorithm RabbitMQ uses unless configured otherwise.
pub const SHA256: &str = "rabbit_password_hashing_sha256";
/// The other salted algorithm RabbitMQ ships.
pub const SHA512: &str = "rabbit_password_hashing_sha512";

const SALT_LEN: usize = 4;

/// A fresh `rabbit_password_hashing_sha256` hash of `password`.
pub fn hash_sha256(password: &str) -> String {
    let salt: [u8; SALT_LEN] = rand::random();
    hash_with_salt(&salt, password)
}

fn hash_with_salt(salt: &[u8; SALT_LEN], password: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(password.as_bytes());
    let mut bytes = salt.to_vec();
    bytes.extend_from_slice(&hasher.finalize());
    STANDARD.encode(bytes)
}

/// Whether `hash` (as the management API shows it, with its algorithm) is a hash of
/// `password`. An unknown algorithm or a malformed hash is "no": the plan then proposes
/// setting the password again, which is safe.
pub fn matches(hash: &str, algorithm: Option<&str>, password: &str) -> bool {
    let Ok(bytes) = STANDARD.decode(hash.trim()) else {
        return false;
    };
    if bytes.len() <= SALT_LEN {
        return false;
    }
    let (salt, digest) = bytes.split_at(SALT_LEN);
    match algorithm.unwrap_or(SHA256) {
        SHA256 => {
            let mut h = Sha256::new();
            h.update(salt);
            h.update(password.as_bytes());
            h.finalize().as_slice() == digest
        }
        SHA512 => {
            let mut h = Sha512::new();
            h.update(salt);
            h.update(password.as_bytes());
            h.finalize().as_slice() == digest
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_hash_verifies_and_others_do_not() {
        let h = hash_sha256("s3cret");
        assert!(matches(&h, Some(SHA256), "s3cret"));
        assert!(matches(&h, None, "s3cret"));
        assert!(!matches(&h, Some(SHA256), "s3cret "));
        assert!(!matches(&h, Some("rabbit_password_hashing_md5"), "s3cret"));
        assert!(!matches("not base64!", None, "s3cret"));
        assert!(!matches("AAAA", None, ""));
    }

    #[test]
    fn known_broker_hash() {
        // Fixed salt: the bytes the broker would store for password "guest".
        let salt = [0x90, 0x8d, 0xc6, 0x0a];
        let h = hash_with_salt(&salt, "guest");
        assert!(h.starts_with(&STANDARD.encode(salt)[..4]));
        assert!(matches(&h, Some(SHA256), "guest"));
        // base64(salt ++ sha256(salt ++ "guest")), computed outside topo.
        assert_eq!(h, "kI3GCrswBLNZQzHJJ95QLoyfAVooYhnvf7jbqiW9BjOYUloe");
        // The same for sha512, as a broker configured for it stores it.
        assert!(matches(
            "kI3GCrf65LdSkFyP8BVa8fB/67dDZ7ljrRF4WEjLDwWuHFxFQjgE88vc4EqLc8+dW4j5onKsGl4Ty32Icokl1iJrRxk=",
            Some(SHA512),
            "guest"
        ));
        assert_ne!(h, hash_sha256("guest"), "salt is random");
    }
}
