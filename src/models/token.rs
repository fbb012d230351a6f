//! API tokens as the API shows them: never with their secret, except once on creation.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;
use utoipa::ToSchema;
use uuid::Uuid;

/// What a token may do. Each scope includes the ones before it: `admin` can
/// do everything `write` can, `write` everything `read` can.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Read events, timelines, types and actors (needed only when `CHRONIK_PUBLIC_READS=false`).
    Read,
    /// Also create, change and delete events and timelines, and manage timeline membership.
    Write,
    /// Also manage event types, delete timelines, and manage tokens.
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Admin => "admin",
        }
    }

    /// Whether a token with this scope may do what `required` allows.
    pub fn includes(self, required: Scope) -> bool {
        self >= required
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "read" => Ok(Self::Read),
            "write" => Ok(Self::Write),
            "admin" => Ok(Self::Admin),
            other => Err(format!("`{other}` is not a scope (read, write or admin)")),
        }
    }
}

/// Server-assigned token id (UUID v7). It is not secret: revisions name it as their author.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(transparent)]
#[schema(value_type = String, format = Uuid, example = "01943b10-2f4e-7a31-8c55-0b7e4d2f9a10")]
pub struct TokenId(pub Uuid);

impl TokenId {
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
}

impl Default for TokenId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::str::FromStr for TokenId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Uuid::parse_str(s)
            .map(Self)
            .map_err(|_| format!("`{s}` is not a token id (a UUID)"))
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Whether a token can still be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TokenStatus {
    Active,
    Expired,
    Revoked,
}

impl TokenStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
        }
    }
}

/// An API token, without its secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "01943b10-2f4e-7a31-8c55-0b7e4d2f9a10",
    "name": "newsroom importer",
    "scope": "write",
    "prefix": "chronik_Xq3b9T",
    "status": "active",
    "created_at": "2026-11-24T10:00:00Z",
    "expires_at": "2026-12-24T10:00:00Z",
    "revoked_at": null,
    "last_used_at": "2026-11-25T08:12:00Z",
    "created_by": null
}))]
pub struct Token {
    pub id: TokenId,
    pub name: String,
    pub scope: Scope,
    /// The first characters of the secret, to recognise a token; not enough to use it.
    pub prefix: String,
    pub status: TokenStatus,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Last successful authentication (updated at most once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// The admin token that created this one; `null` when made with the CLI or at first start.
    pub created_by: Option<TokenId>,
}

/// A token just created, with its secret. The secret is shown only this once.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "01943b10-2f4e-7a31-8c55-0b7e4d2f9a10",
    "name": "newsroom importer",
    "scope": "write",
    "prefix": "chronik_Xq3b9T",
    "status": "active",
    "created_at": "2026-11-24T10:00:00Z",
    "expires_at": "2026-12-24T10:00:00Z",
    "revoked_at": null,
    "last_used_at": null,
    "created_by": "01943a00-0000-7000-8000-000000000001",
    "secret": "chronik_Xq3b9TzK1v0cQ4n8mJ2pW6yR5sE7uA3dF9gH1jL0kM"
}))]
pub struct CreatedToken {
    #[serde(flatten)]
    pub token: Token,
    /// Send as `Authorization: Bearer <secret>`. It is stored only as a hash and cannot be shown again.
    pub secret: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenList {
    pub data: Vec<Token>,
}

/// How long a new token lives: seconds, or a number with a unit (`s`, `m`, `h`, `d`, `w`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Lifetime {
    /// Seconds, e.g. `86400`.
    Seconds(u64),
    /// A number with a unit, e.g. `30d`, `12h`, `90m`, `2w`.
    #[schema(example = "30d")]
    Text(String),
}

impl Lifetime {
    pub fn duration(&self) -> Result<Duration, String> {
        match self {
            Self::Seconds(0) => Err("must be longer than 0 seconds".into()),
            Self::Seconds(secs) => Ok(Duration::from_secs(*secs)),
            Self::Text(text) => parse_lifetime(text),
        }
    }
}

/// Parses `30d`, `12h`, `90m`, `3600s`, `2w` or a bare number of seconds.
pub fn parse_lifetime(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let hint = || format!("`{text}` is not a lifetime such as `30d`, `12h`, `90m` or `3600`");
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| hint())?;
    let unit_secs = match unit.trim() {
        "" | "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(hint()),
    };
    match number.checked_mul(unit_secs) {
        Some(0) => Err("must be longer than 0 seconds".into()),
        // More than a century is a typo, and would overflow date arithmetic sooner or later.
        Some(secs) if secs <= 100 * 366 * 86_400 => Ok(Duration::from_secs(secs)),
        _ => Err(format!("`{text}` is longer than a hundred years")),
    }
}

/// The expiry `lifetime` from now.
pub fn expires_after(lifetime: Duration) -> Result<DateTime<Utc>, String> {
    chrono::Duration::from_std(lifetime)
        .ok()
        .and_then(|d| Utc::now().checked_add_signed(d))
        .ok_or_else(|| "is too far in the future".to_owned())
}

/// Body of `POST /v1/tokens`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "newsroom importer", "scope": "write", "expires_in": "30d"}))]
pub struct NewToken {
    /// What the token is for, 1 to 200 characters, not blank.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"[^\t-\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]"
    )]
    pub name: String,
    pub scope: Scope,
    /// Lifetime from now; give this or `expires_at`, or neither for a token that does not expire.
    #[serde(default)]
    pub expires_in: Option<Lifetime>,
    /// Expiry as an RFC 3339 date-time in the future.
    #[serde(default, deserialize_with = "crate::models::rfc3339_opt")]
    pub expires_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_include_the_lower_ones() {
        assert!(Scope::Admin.includes(Scope::Write));
        assert!(Scope::Write.includes(Scope::Read));
        assert!(Scope::Write.includes(Scope::Write));
        assert!(!Scope::Write.includes(Scope::Admin));
        assert!(!Scope::Read.includes(Scope::Write));
    }

    #[test]
    fn lifetimes_take_units() {
        assert_eq!(parse_lifetime("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_lifetime("12h"), Ok(Duration::from_secs(12 * 3600)));
        assert_eq!(parse_lifetime("90m"), Ok(Duration::from_secs(90 * 60)));
        assert_eq!(parse_lifetime("3600"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_lifetime("2w"), Ok(Duration::from_secs(14 * 86_400)));
        assert!(parse_lifetime("0d").is_err());
        assert!(parse_lifetime("30x").is_err());
        assert!(parse_lifetime("d").is_err());
        assert!(parse_lifetime("-1d").is_err());
        assert!(parse_lifetime("99999999999999w").is_err());
    }
}
