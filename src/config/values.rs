//! The values settings take: lengths of time and per-client caps.

use std::fmt;
use std::time::Duration;

/// How many of something one client may have running at once, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientCap(pub Option<usize>);

impl std::str::FromStr for ClientCap {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "off" | "none" => Ok(Self(None)),
            // Zero would refuse every client, which `CHRONIK_MAX_EXPORTS` does better.
            text => match text.parse::<usize>() {
                Ok(0) | Err(_) => Err(format!("`{raw}` is not a number from 1, or `off`")),
                Ok(max) => Ok(Self(Some(max))),
            },
        }
    }
}

/// A length of time a setting allows: `30s`, `500ms`, `5min`, `1h` (a bare
/// number is seconds), or `off` (`none`, `0`) for no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeLimit(pub Option<Duration>);

impl std::str::FromStr for TimeLimit {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        let text = raw.trim().to_ascii_lowercase();
        if matches!(text.as_str(), "off" | "none") {
            return Ok(Self(None));
        }
        let hint =
            || format!("`{raw}` is not a time such as `30s`, `500ms`, `5min`, `1h` or `off`");
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let number: u64 = number.parse().map_err(|_| hint())?;
        let millis_per_unit = match unit.trim() {
            "ms" => 1,
            "" | "s" => 1_000,
            "min" | "m" => 60_000,
            "h" => 3_600_000,
            _ => return Err(hint()),
        };
        // Postgres takes its timeouts in milliseconds as a 32-bit integer.
        match number.checked_mul(millis_per_unit) {
            // Zero is how Postgres spells "no limit", too.
            Some(0) => Ok(Self(None)),
            Some(millis) if millis <= i32::MAX as u64 => {
                Ok(Self(Some(Duration::from_millis(millis))))
            }
            _ => Err(format!("`{raw}` is longer than 24 days")),
        }
    }
}

impl fmt::Display for TimeLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("off"),
            Some(limit) if limit.subsec_millis() != 0 => write!(f, "{}ms", limit.as_millis()),
            Some(limit) => write!(f, "{}s", limit.as_secs()),
        }
    }
}

/// How long something is given to finish before it is cut short: a time as
/// [`TimeLimit`] takes it, where `0` gives no time at all. Never `off`: the
/// wait must end (an orchestrator kills what takes longer anyway).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GracePeriod(pub Duration);

impl GracePeriod {
    /// In whole seconds, rounded up (actix counts shutdown time in seconds).
    pub fn whole_seconds(&self) -> u64 {
        self.0.as_secs() + u64::from(self.0.subsec_nanos() > 0)
    }
}

impl std::str::FromStr for GracePeriod {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        if matches!(raw.trim().to_ascii_lowercase().as_str(), "off" | "none") {
            return Err(format!(
                "`{raw}`: this wait cannot be `off`; give a time such as `30s` (`0` cuts at once)"
            ));
        }
        // Only zero is "no limit" to TimeLimit once `off` is ruled out.
        Ok(Self(raw.parse::<TimeLimit>()?.0.unwrap_or(Duration::ZERO)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(raw: &str) -> Result<Option<Duration>, String> {
        raw.parse::<TimeLimit>().map(|l| l.0)
    }

    #[test]
    fn time_limits_take_a_unit_or_seconds_or_off() {
        assert_eq!(limit("30s"), Ok(Some(Duration::from_secs(30))));
        assert_eq!(limit("30"), Ok(Some(Duration::from_secs(30))));
        assert_eq!(limit("250ms"), Ok(Some(Duration::from_millis(250))));
        assert_eq!(limit("5min"), Ok(Some(Duration::from_secs(300))));
        assert_eq!(limit(" 1h "), Ok(Some(Duration::from_secs(3600))));
        for off in ["off", "OFF", "0", "0s", "none"] {
            assert_eq!(limit(off), Ok(None), "{off}");
        }
        for bad in ["", "s", "-1s", "1.5s", "10 years", "30d", "1000h"] {
            assert!(limit(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_client_cap_is_a_positive_number_or_off() {
        let cap = |raw: &str| raw.parse::<ClientCap>().map(|c| c.0);
        assert_eq!(cap("2"), Ok(Some(2)));
        assert_eq!(cap(" off "), Ok(None));
        for bad in ["0", "-1", "two", ""] {
            assert!(cap(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn time_limits_print_as_they_are_written() {
        for text in ["30s", "250ms", "off"] {
            assert_eq!(
                text.parse::<TimeLimit>().map(|l| l.to_string()),
                Ok(text.into())
            );
        }
    }

    #[test]
    fn a_grace_period_is_a_time_or_zero_never_off() {
        let grace = |raw: &str| raw.parse::<GracePeriod>().map(|g| g.0);
        assert_eq!(grace("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(grace("0"), Ok(Duration::ZERO));
        for bad in ["off", "none", "", "-1s"] {
            assert!(grace(bad).is_err(), "{bad}");
        }
        let seconds = |raw: &str| raw.parse::<GracePeriod>().map(|g| g.whole_seconds());
        assert_eq!(
            seconds("1500ms"),
            Ok(2),
            "rounded up: never less time than asked"
        );
        assert_eq!(seconds("2min"), Ok(120));
        assert_eq!(seconds("0"), Ok(0));
    }
}
