//! Stout duration strings (`stout/duration.hpp`): `5secs`, `250ms`, `2mins`, `1.5hrs`.
//!
//! Every Mesos binary and every duration environment variable
//! (`MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD`, `MESOS_RECOVERY_TIMEOUT`,
//! `--kill_after`, ...) uses this syntax. This module owns parsing and printing
//! it, and nothing else. It never guesses: `5s` is refused exactly like
//! upstream refuses it, and so is a negative value.

use std::time::Duration;

const NANOSECOND: u128 = 1;
const MICROSECOND: u128 = 1_000 * NANOSECOND;
const MILLISECOND: u128 = 1_000 * MICROSECOND;
const SECOND: u128 = 1_000 * MILLISECOND;
const MINUTE: u128 = 60 * SECOND;
const HOUR: u128 = 60 * MINUTE;
const DAY: u128 = 24 * HOUR;
const WEEK: u128 = 7 * DAY;

/// Units from the largest down, with their stout suffixes.
const UNITS: [(u128, &str); 8] = [
    (WEEK, "weeks"),
    (DAY, "days"),
    (HOUR, "hrs"),
    (MINUTE, "mins"),
    (SECOND, "secs"),
    (MILLISECOND, "ms"),
    (MICROSECOND, "us"),
    (NANOSECOND, "ns"),
];

/// A string that is not a stout duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DurationError(String);

/// Parses a stout duration: a non-negative decimal number followed directly
/// by one of `ns`, `us`, `ms`, `secs`, `mins`, `hrs`, `days`, `weeks`.
pub fn parse(s: &str) -> Result<Duration, DurationError> {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| DurationError(format!("Invalid duration '{s}'")))?;
    let (number, unit) = s.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| DurationError(format!("Invalid duration '{s}'")))?;
    let nanos_per_unit = UNITS
        .iter()
        .find(|(_, suffix)| *suffix == unit)
        .map(|(nanos, _)| *nanos)
        .ok_or_else(|| {
            DurationError(format!(
                "Unknown duration unit '{unit}'; supported units are 'ns', 'us', 'ms', \
                 'secs', 'mins', 'hrs', 'days', and 'weeks'"
            ))
        })?;
    // Stout keeps nanoseconds in an int64, truncating the fraction.
    let nanos = value * nanos_per_unit as f64;
    if !nanos.is_finite() || nanos >= i64::MAX as f64 {
        return Err(DurationError(format!("Duration '{s}' is too large")));
    }
    Ok(Duration::from_nanos(nanos as u64))
}

/// Prints a duration the way stout does: in the largest unit that holds it,
/// whole if possible, otherwise in the next smaller unit (`1mins`, `2secs`,
/// `1500ms`, `250ms`).
pub fn format(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos < MICROSECOND {
        return format!("{nanos}ns");
    }
    let bucket = UNITS
        .iter()
        .position(|(unit, _)| nanos >= *unit)
        .unwrap_or(UNITS.len() - 1);
    let (unit, suffix) = UNITS[bucket];
    if nanos % unit == 0 {
        return format!("{}{}", nanos / unit, suffix);
    }
    // Not whole in its bucket: one unit down reads better (`90secs`, not `1.5mins`).
    let (smaller, smaller_suffix) = UNITS[(bucket + 1).min(UNITS.len() - 1)];
    if nanos % smaller == 0 {
        format!("{}{}", nanos / smaller, smaller_suffix)
    } else {
        format!("{}{}", nanos as f64 / smaller as f64, smaller_suffix)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        assert_eq!(parse("7ns").unwrap(), Duration::from_nanos(7));
        assert_eq!(parse("3us").unwrap(), Duration::from_micros(3));
        assert_eq!(parse("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse("5secs").unwrap(), Duration::from_secs(5));
        assert_eq!(parse("2mins").unwrap(), Duration::from_secs(120));
        assert_eq!(parse("1hrs").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse("1days").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse("2weeks").unwrap(), Duration::from_secs(14 * 86_400));
    }

    #[test]
    fn parses_fractions_and_leading_dot() {
        assert_eq!(parse("1.5secs").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse(".5secs").unwrap(), Duration::from_millis(500));
        assert_eq!(parse("0secs").unwrap(), Duration::ZERO);
    }

    #[test]
    fn refuses_what_stout_refuses() {
        for bad in [
            "5s",
            "5",
            "",
            "secs",
            "-5secs",
            "5 secs",
            "1.2.3secs",
            "5sec",
            "5Secs",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be refused");
        }
        let unit = parse("5s").unwrap_err().to_string();
        assert!(unit.contains("Unknown duration unit 's'"), "{unit}");
        assert_eq!(
            parse("15").unwrap_err().to_string(),
            "Invalid duration '15'"
        );
    }

    #[test]
    fn refuses_overflow() {
        assert!(parse("1000000000weeks").is_err());
    }

    #[test]
    fn formats_like_stout() {
        assert_eq!(format(Duration::from_secs(60)), "1mins");
        assert_eq!(format(Duration::from_secs(2)), "2secs");
        assert_eq!(format(Duration::from_secs(15 * 60)), "15mins");
        assert_eq!(format(Duration::from_millis(250)), "250ms");
        assert_eq!(format(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format(Duration::from_secs(90)), "90secs");
        assert_eq!(format(Duration::from_nanos(12)), "12ns");
        assert_eq!(format(Duration::ZERO), "0ns");
        assert_eq!(format(Duration::from_secs(7 * 86_400)), "1weeks");
        assert_eq!(format(Duration::from_nanos(1_500_500)), "1500.5us");
    }

    #[test]
    fn format_then_parse_round_trips() {
        for d in [
            Duration::from_secs(5),
            Duration::from_millis(3250),
            Duration::from_micros(17),
            Duration::from_secs(3 * 3600),
        ] {
            assert_eq!(parse(&format(d)).unwrap(), d);
        }
    }
}
