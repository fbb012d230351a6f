//! A position in the primary's write-ahead log (a Postgres `pg_lsn`): what
//! a write answers with as `Chronik-Position`, and what a read sends back
//! to be served only by a server that has replayed at least that far.

use std::fmt;
use std::str::FromStr;

/// The header a write answers with and a read may send back.
pub const POSITION_HEADER: &str = "chronik-position";

/// A WAL location, written as Postgres writes it: two hexadecimal halves, `16/B374D848`.
/// The default, `0/0`, is the log's start: every server has replayed that far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position(u64);

impl Position {
    /// The pattern the spec gives the header.
    pub const PATTERN: &'static str = "^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$";
    pub const EXAMPLE: &'static str = "0/1A2B3C8";
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

impl FromStr for Position {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let invalid = || {
            format!(
                "`{raw}` is not a position: a write's `Chronik-Position`, such as {}",
                Self::EXAMPLE
            )
        };
        let (high, low) = raw.split_once('/').ok_or_else(invalid)?;
        let half = |s: &str| {
            let hex = (1..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit());
            hex.then(|| u32::from_str_radix(s, 16).ok()).flatten()
        };
        match (half(high), half(low)) {
            (Some(high), Some(low)) => Ok(Position((u64::from(high) << 32) | u64::from(low))),
            _ => Err(invalid()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_postgres_notation() {
        let position: Position = "16/B374D848".parse().unwrap();
        assert_eq!(position.to_string(), "16/B374D848");
        assert_eq!("0/0".parse::<Position>().unwrap().to_string(), "0/0");
        assert_eq!(
            "ffffffff/ffffffff".parse::<Position>().unwrap().to_string(),
            "FFFFFFFF/FFFFFFFF"
        );
    }

    #[test]
    fn orders_as_the_log_does() {
        let a: Position = "0/FFFFFFFF".parse().unwrap();
        let b: Position = "1/0".parse().unwrap();
        assert!(a < b);
    }

    #[test]
    fn refuses_anything_else_by_showing_it() {
        for bad in [
            "",
            "/",
            "1/",
            "/1",
            "16",
            "16/B374D848/1",
            "g/0",
            "+1/0",
            " 1/0",
            "123456789/0",
        ] {
            let err = bad.parse::<Position>().unwrap_err();
            assert!(err.contains(&format!("`{bad}`")), "{bad}: {err}");
        }
    }
}
