//! Token secrets: how they are made, stored and checked.
//!
//! A secret is 32 bytes from the operating system's CSPRNG, rendered as
//! `chronik_` + base64url. Only its SHA-256 hash is stored. A fast hash is
//! enough here (unlike for passwords): with 256 random bits there is nothing
//! to guess, so a slow key-derivation function would only cost CPU per request.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

/// Every secret starts with this, so leaked ones are easy to spot (and to scan for).
pub const SECRET_PREFIX: &str = "chronik_";
/// How many characters of a secret are kept in clear for display (`chronik_` + 6).
const DISPLAY_CHARS: usize = SECRET_PREFIX.len() + 6;
const SECRET_BYTES: usize = 32;

/// A token secret in clear. Its `Debug` output hides it, so it cannot end up in logs by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A new random secret.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; SECRET_BYTES];
        getrandom::fill(&mut bytes)?;
        Ok(Self(format!(
            "{SECRET_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(bytes)
        )))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// The hash stored in `api_tokens.secret_hash`.
    pub fn hash(&self) -> [u8; 32] {
        hash(&self.0)
    }

    /// The non-secret beginning shown in token lists.
    pub fn display_prefix(&self) -> String {
        self.0.chars().take(DISPLAY_CHARS).collect()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({}…)", self.display_prefix())
    }
}

/// SHA-256 of a presented secret, the key under which its token is looked up.
pub fn hash(presented: &str) -> [u8; 32] {
    Sha256::digest(presented.as_bytes()).into()
}

/// Compares two hashes in constant time.
///
/// Why the whole check is timing-safe: the database looks a token up by the
/// *hash* of the presented secret, so the time the index lookup takes can at
/// most reveal something about a hash, never about a secret (an attacker
/// cannot choose inputs whose SHA-256 shares a prefix with a stored hash).
/// The final equality check of the stored hash against the computed one then
/// runs in constant time, so it leaks nothing either, even if a lookup ever
/// returned a near match.
pub fn same_hash(stored: &[u8], computed: &[u8; 32]) -> bool {
    stored.len() == computed.len() && bool::from(stored.ct_eq(computed.as_slice()))
}

/// Whether `presented` looks like a secret this server could have issued.
pub fn well_formed(presented: &str) -> bool {
    presented.strip_prefix(SECRET_PREFIX).is_some_and(|rest| {
        rest.len() == 43
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_well_formed_and_hashable() {
        let a = Secret::generate().unwrap();
        let b = Secret::generate().unwrap();
        assert_ne!(a, b);
        assert!(well_formed(a.expose()), "{}", a.expose());
        assert_eq!(a.expose().len(), SECRET_PREFIX.len() + 43);
        assert!(same_hash(&a.hash(), &hash(a.expose())));
        assert!(!same_hash(&a.hash(), &b.hash()));
        assert!(!same_hash(&a.hash()[..31], &a.hash()));
        assert!(a.display_prefix().starts_with(SECRET_PREFIX));
        assert!(!format!("{a:?}").contains(a.expose()));
    }

    #[test]
    fn malformed_secrets_are_recognised() {
        assert!(!well_formed("chronik_short"));
        assert!(!well_formed("Bearer chronik_x"));
        assert!(!well_formed(&format!("other_{}", "a".repeat(43))));
        assert!(well_formed(&format!("chronik_{}", "a".repeat(43))));
    }
}
