//! stout's `Duration`: parsing (`5secs`, `15mins`, `0.5secs`) and printing
//! (largest unit that gives a whole number).
//!
//! Owns only the text form of durations; it never reads clocks.

use std::fmt;

const NS: i64 = 1;
const US: i64 = 1_000 * NS;
const MS: i64 = 1_000 * US;
const SECS: i64 = 1_000 * MS;
const MINS: i64 = 60 * SECS;
const HRS: i64 = 60 * MINS;
const DAYS: i64 = 24 * HRS;
const WEEKS: i64 = 7 * DAYS;

/// Units in the order stout checks them, smallest first.
const UNITS: [(&str, i64); 8] = [
    ("ns", NS),
    ("us", US),
    ("ms", MS),
    ("secs", SECS),
    ("mins", MINS),
    ("hrs", HRS),
    ("days", DAYS),
    ("weeks", WEEKS),
];

/// A signed span of time with nanosecond resolution, as stout keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration {
    nanos: i64,
}

impl Duration {
    pub const fn from_nanos(nanos: i64) -> Self {
        Duration { nanos }
    }

    pub const fn from_secs(secs: i64) -> Self {
        Duration { nanos: secs * SECS }
    }

    pub const fn from_mins(mins: i64) -> Self {
        Duration { nanos: mins * MINS }
    }

    pub const fn from_days(days: i64) -> Self {
        Duration { nanos: days * DAYS }
    }

    /// From (possibly fractional) seconds; `None` when not finite or out of
    /// range, like stout's `Duration::create(double)`.
    pub fn from_secs_f64(secs: f64) -> Option<Self> {
        let nanos = secs * SECS as f64;
        if !nanos.is_finite() || nanos >= i64::MAX as f64 || nanos <= i64::MIN as f64 {
            return None;
        }
        Some(Duration {
            nanos: nanos as i64,
        })
    }

    pub const fn nanos(&self) -> i64 {
        self.nanos
    }

    pub fn secs_f64(&self) -> f64 {
        self.nanos as f64 / SECS as f64
    }

    /// The std form, clamping negatives to zero (timers cannot go back).
    pub fn to_std(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.nanos.max(0) as u64)
    }

    /// Parses stout syntax: a non-negative decimal number immediately
    /// followed by one of `ns us ms secs mins hrs days weeks`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("Invalid duration '{text}'"))?;
        let (number, unit) = text.split_at(split);
        let value: f64 = number
            .parse()
            .map_err(|_| format!("Failed to convert '{number}' to number"))?;
        let factor = UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, factor)| *factor)
            .ok_or_else(|| format!("Unknown duration unit '{unit}'"))?;
        let nanos = value * factor as f64;
        if !nanos.is_finite() || nanos >= i64::MAX as f64 {
            return Err(format!("Duration '{text}' is out of range"));
        }
        Ok(Duration {
            nanos: nanos.round() as i64,
        })
    }
}

impl fmt::Display for Duration {
    /// stout's `operator<<`: pick the bucket the value falls in; if it is
    /// not a whole number there but is one unit down, use that smaller unit.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut nanos = self.nanos;
        if nanos < 0 {
            f.write_str("-")?;
            nanos = nanos.saturating_neg();
        }
        if nanos < US {
            return write!(f, "{nanos}ns");
        }
        // Index of the largest unit not larger than the value.
        let bucket = UNITS
            .iter()
            .rposition(|(_, factor)| nanos >= *factor)
            .unwrap_or(0);
        let (unit, factor) = UNITS[bucket];
        let (smaller_unit, smaller_factor) = UNITS[bucket - 1];
        if nanos % factor != 0 && nanos % smaller_factor == 0 {
            write!(f, "{}{}", nanos / smaller_factor, smaller_unit)
        } else if nanos % factor == 0 {
            write!(f, "{}{}", nanos / factor, unit)
        } else {
            write!(f, "{}{}", nanos as f64 / factor as f64, unit)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stout_units() {
        assert_eq!(Duration::parse("5secs").unwrap(), Duration::from_secs(5));
        assert_eq!(Duration::parse("15mins").unwrap(), Duration::from_mins(15));
        assert_eq!(
            Duration::parse("0.5secs").unwrap(),
            Duration::from_nanos(500 * MS)
        );
        assert_eq!(Duration::parse("2days").unwrap(), Duration::from_days(2));
        assert_eq!(
            Duration::parse("100ms").unwrap(),
            Duration::from_nanos(100 * MS)
        );
    }

    #[test]
    fn rejects_non_stout_units() {
        assert_eq!(
            Duration::parse("5s").unwrap_err(),
            "Unknown duration unit 's'"
        );
        assert!(Duration::parse("5").is_err());
        assert!(Duration::parse("secs").is_err());
        assert!(Duration::parse("").is_err());
        assert!(Duration::parse("-5secs").is_err());
    }

    #[test]
    fn prints_largest_whole_unit() {
        assert_eq!(Duration::from_secs(15).to_string(), "15secs");
        assert_eq!(Duration::from_secs(60).to_string(), "1mins");
        assert_eq!(Duration::from_mins(15).to_string(), "15mins");
        assert_eq!(Duration::from_nanos(250 * MS).to_string(), "250ms");
        assert_eq!(Duration::from_nanos(1500 * MS).to_string(), "1500ms");
        assert_eq!(Duration::from_days(10).to_string(), "10days");
        assert_eq!(Duration::from_days(14).to_string(), "2weeks");
        assert_eq!(Duration::from_nanos(0).to_string(), "0ns");
        assert_eq!(
            Duration::from_nanos(1_500_000_001).to_string(),
            "1.500000001secs"
        );
    }

    #[test]
    fn round_trips() {
        for text in [
            "1secs", "10mins", "5secs", "75secs", "2hrs", "3weeks", "7ms",
        ] {
            assert_eq!(Duration::parse(text).unwrap().to_string(), text);
        }
    }
}
