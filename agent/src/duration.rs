//! Stout duration strings (`5secs`, `1mins`, `250ms`), the only duration
//! syntax Mesos flags and executor environment variables use.
//!
//! Owns parsing and printing of that syntax. It must never accept forms
//! upstream rejects (`5s`), because an executor or tool reading a value we
//! print would then fail on it.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::error::AgentError;

const NANOS: u128 = 1;
const MICROS: u128 = 1_000;
const MILLIS: u128 = 1_000_000;
const SECS: u128 = 1_000_000_000;
const MINS: u128 = 60 * SECS;
const HRS: u128 = 60 * MINS;
const DAYS: u128 = 24 * HRS;
const WEEKS: u128 = 7 * DAYS;

/// Units from the smallest up, as stout spells them.
const UNITS: [(&str, u128); 8] = [
    ("ns", NANOS),
    ("us", MICROS),
    ("ms", MILLIS),
    ("secs", SECS),
    ("mins", MINS),
    ("hrs", HRS),
    ("days", DAYS),
    ("weeks", WEEKS),
];

/// A non-negative duration that prints and parses in stout syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StoutDuration(pub Duration);

impl StoutDuration {
    pub const fn from_secs(secs: u64) -> Self {
        StoutDuration(Duration::from_secs(secs))
    }

    pub const fn from_nanos(nanos: u64) -> Self {
        StoutDuration(Duration::from_nanos(nanos))
    }

    pub fn as_duration(&self) -> Duration {
        self.0
    }
}

impl From<Duration> for StoutDuration {
    fn from(d: Duration) -> Self {
        StoutDuration(d)
    }
}

impl FromStr for StoutDuration {
    type Err = AgentError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let split = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| AgentError::Flag(format!("Invalid duration '{s}': missing unit")))?;
        let (number, unit) = s.split_at(split);
        let value: f64 = number
            .parse()
            .map_err(|_| AgentError::Flag(format!("Invalid duration '{s}': bad number")))?;
        let per_unit = UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, n)| *n)
            .ok_or_else(|| {
                AgentError::Flag(format!(
                    "Invalid duration '{s}': unknown unit '{unit}' \
                     (expected one of ns, us, ms, secs, mins, hrs, days, weeks)"
                ))
            })?;
        let nanos = value * per_unit as f64;
        if !nanos.is_finite() || nanos < 0.0 || nanos > u64::MAX as f64 {
            return Err(AgentError::Flag(format!(
                "Invalid duration '{s}': out of range"
            )));
        }
        Ok(StoutDuration(Duration::from_nanos(nanos.round() as u64)))
    }
}

impl fmt::Display for StoutDuration {
    /// Picks the unit bucket the duration falls into; prints it there when it
    /// is a whole number there or cannot be whole one unit lower, else one
    /// unit lower (stout's rule: 90 s prints as `90secs`, 1 min as `1mins`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0.as_nanos();
        if nanos < MICROS {
            return write!(f, "{nanos}ns");
        }
        let bucket = UNITS.iter().rposition(|(_, n)| nanos >= *n).unwrap_or(0);
        let (name, per) = UNITS[bucket];
        let (lower_name, lower_per) = UNITS[bucket.saturating_sub(1)];
        if nanos % per != 0 && nanos % lower_per == 0 {
            write!(f, "{}{}", nanos / lower_per, lower_name)
        } else if nanos % per == 0 {
            write!(f, "{}{}", nanos / per, name)
        } else {
            // Not whole at either level: print a decimal in this unit,
            // trimmed the way a C++ stream with 15 digits would.
            let value = nanos as f64 / per as f64;
            let text = format!("{value:.15}");
            let text = text.trim_end_matches('0').trim_end_matches('.');
            write!(f, "{text}{name}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Duration {
        s.parse::<StoutDuration>().unwrap().0
    }

    #[test]
    fn parses_every_unit() {
        assert_eq!(parse("5ns"), Duration::from_nanos(5));
        assert_eq!(parse("5us"), Duration::from_micros(5));
        assert_eq!(parse("250ms"), Duration::from_millis(250));
        assert_eq!(parse("5secs"), Duration::from_secs(5));
        assert_eq!(parse("1mins"), Duration::from_secs(60));
        assert_eq!(parse("2hrs"), Duration::from_secs(7200));
        assert_eq!(parse("1days"), Duration::from_secs(86400));
        assert_eq!(parse("1weeks"), Duration::from_secs(604800));
        assert_eq!(parse("1.5secs"), Duration::from_millis(1500));
    }

    #[test]
    fn rejects_non_stout_forms() {
        assert!("5s".parse::<StoutDuration>().is_err());
        assert!("5".parse::<StoutDuration>().is_err());
        assert!("secs".parse::<StoutDuration>().is_err());
        assert!("-5secs".parse::<StoutDuration>().is_err());
    }

    #[test]
    fn prints_like_stout() {
        let show = |d: Duration| StoutDuration(d).to_string();
        assert_eq!(show(Duration::from_secs(5)), "5secs");
        assert_eq!(show(Duration::from_secs(60)), "1mins");
        assert_eq!(show(Duration::from_secs(90)), "90secs");
        assert_eq!(show(Duration::from_secs(900)), "15mins");
        assert_eq!(show(Duration::from_secs(2)), "2secs");
        assert_eq!(show(Duration::from_millis(250)), "250ms");
        assert_eq!(show(Duration::from_nanos(10)), "10ns");
        assert_eq!(show(Duration::from_secs(604800)), "1weeks");
        assert_eq!(show(Duration::from_secs(0)), "0ns");
        assert_eq!(show(Duration::from_millis(1500)), "1500ms");
        assert_eq!(show(Duration::from_nanos(1_500_000_001)), "1.500000001secs");
    }

    #[test]
    fn round_trips() {
        for s in ["5secs", "1mins", "15mins", "250ms", "3days", "7hrs"] {
            assert_eq!(s.parse::<StoutDuration>().unwrap().to_string(), s);
        }
    }
}
