//! stout's `Duration` (`3rdparty/stout/include/stout/duration.hpp`): the
//! text form of time spans used by every Mesos flag, `/flags` value,
//! duration environment variable (`MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD`,
//! `MESOS_RECOVERY_TIMEOUT`, ...) and log line.
//!
//! Owns parsing (`5secs`, `250ms`, `1.5mins`) and printing (largest unit
//! that gives a whole number, `1mins`, `250ms`, with upstream's fallbacks),
//! and the conversions to and from [`std::time::Duration`]. It must never
//! accept a form upstream refuses (`5s`, `-1secs`): a tool or executor
//! reading a value we print or pass on would then fail on it. It never
//! reads clocks.
//!
//! Deviation: stout keeps a signed `int64` of nanoseconds; negative spans
//! only arise there from arithmetic, never from parsing, so this type is
//! non-negative (negative inputs to the constructors count as zero) and
//! wraps [`std::time::Duration`] so timers can use it directly.

use std::fmt;
use std::str::FromStr;

use crate::Error;

const NS: u128 = 1;
const US: u128 = 1_000 * NS;
const MS: u128 = 1_000 * US;
const SECS: u128 = 1_000 * MS;
const MINS: u128 = 60 * SECS;
const HRS: u128 = 60 * MINS;
const DAYS: u128 = 24 * HRS;
const WEEKS: u128 = 7 * DAYS;

/// Units from the smallest up, as stout spells them.
const UNITS: [(&str, u128); 8] = [
    ("ns", NS),
    ("us", US),
    ("ms", MS),
    ("secs", SECS),
    ("mins", MINS),
    ("hrs", HRS),
    ("days", DAYS),
    ("weeks", WEEKS),
];

/// stout keeps nanoseconds in an `int64`; nothing larger can be parsed.
const MAX_NANOS: u64 = i64::MAX as u64;

/// A time span that parses and prints in stout syntax.
///
/// The wrapped [`std::time::Duration`] is public so timers can use it
/// without ceremony; values built by this module never exceed
/// [`Duration::MAX`] (stout's `Duration::max()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    /// stout's `Duration::zero()`.
    pub const ZERO: Duration = Duration(std::time::Duration::ZERO);

    /// stout's `Duration::max()`: `int64` max nanoseconds (about 292 years).
    pub const MAX: Duration = Duration(std::time::Duration::from_nanos(MAX_NANOS));

    /// stout's `Nanoseconds(n)`; negative counts as zero.
    pub const fn from_nanos(nanos: i64) -> Self {
        Self::from_units(nanos, NS as u64)
    }

    /// stout's `Microseconds(n)`; negative counts as zero.
    pub const fn from_micros(micros: i64) -> Self {
        Self::from_units(micros, US as u64)
    }

    /// stout's `Milliseconds(n)`; negative counts as zero.
    pub const fn from_millis(millis: i64) -> Self {
        Self::from_units(millis, MS as u64)
    }

    /// stout's `Seconds(n)`; negative counts as zero.
    pub const fn from_secs(secs: i64) -> Self {
        Self::from_units(secs, SECS as u64)
    }

    /// stout's `Minutes(n)`; negative counts as zero.
    pub const fn from_mins(mins: i64) -> Self {
        Self::from_units(mins, MINS as u64)
    }

    /// stout's `Hours(n)`; negative counts as zero.
    pub const fn from_hrs(hrs: i64) -> Self {
        Self::from_units(hrs, HRS as u64)
    }

    /// stout's `Days(n)`; negative counts as zero.
    pub const fn from_days(days: i64) -> Self {
        Self::from_units(days, DAYS as u64)
    }

    /// stout's `Weeks(n)`; negative counts as zero.
    pub const fn from_weeks(weeks: i64) -> Self {
        Self::from_units(weeks, WEEKS as u64)
    }

    /// `value` units, saturating at [`Duration::MAX`] like the `int64`
    /// stout keeps would (stout itself overflows).
    const fn from_units(value: i64, unit: u64) -> Self {
        if value <= 0 {
            return Self::ZERO;
        }
        match (value as u64).checked_mul(unit) {
            Some(nanos) if nanos <= MAX_NANOS => Duration(std::time::Duration::from_nanos(nanos)),
            _ => Self::MAX,
        }
    }

    /// stout's `Duration::create(double seconds)`: `None` when the value is
    /// not finite or does not fit stout's `int64` of nanoseconds. A negative
    /// value in range gives zero (see the module docs); the fraction of a
    /// nanosecond is truncated, as stout does.
    pub fn from_secs_f64(secs: f64) -> Option<Self> {
        let nanos = secs * SECS as f64;
        if !nanos.is_finite() || nanos >= i64::MAX as f64 || nanos <= i64::MIN as f64 {
            return None;
        }
        if nanos <= 0.0 {
            return Some(Self::ZERO);
        }
        Some(Duration(std::time::Duration::from_nanos(nanos as u64)))
    }

    /// The span as a [`std::time::Duration`], for timers.
    pub const fn to_std(&self) -> std::time::Duration {
        self.0
    }

    /// stout's `secs()`: the span in (fractional) seconds.
    pub fn secs_f64(&self) -> f64 {
        self.0.as_secs_f64()
    }

    /// stout's `Duration::parse`: a non-negative decimal number (digits and
    /// `.`) immediately followed by one of `ns us ms secs mins hrs days
    /// weeks`. Nothing else is accepted, not even surrounding whitespace.
    /// The fraction of a nanosecond is truncated, as stout does.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| Error::Duration(format!("Invalid duration '{text}'")))?;
        let (number, unit) = text.split_at(split);
        // Rust's float syntax over digits and dots is what stout's
        // `numify<double>` accepts (`1.`, `.5`; not `.` or `1.2.3`).
        let value: f64 = number
            .parse()
            .map_err(|_| Error::Duration(format!("Failed to convert '{number}' to number")))?;
        let per_unit = UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, per_unit)| *per_unit)
            .ok_or_else(|| {
                Error::Duration(format!(
                    "Unknown duration unit '{unit}'; supported units are 'ns', 'us', \
                     'ms', 'secs', 'mins', 'hrs', 'days', and 'weeks'"
                ))
            })?;
        let nanos = value * per_unit as f64;
        // stout would overflow its int64 here (undefined behaviour); refuse.
        if !nanos.is_finite() || nanos >= i64::MAX as f64 {
            return Err(Error::Duration(format!(
                "Duration '{text}' is out of range"
            )));
        }
        Ok(Duration(std::time::Duration::from_nanos(nanos as u64)))
    }
}

impl From<std::time::Duration> for Duration {
    fn from(duration: std::time::Duration) -> Self {
        Duration(duration)
    }
}

impl From<Duration> for std::time::Duration {
    fn from(duration: Duration) -> Self {
        duration.0
    }
}

impl FromStr for Duration {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        Duration::parse(text)
    }
}

impl fmt::Display for Duration {
    /// stout's `operator<<`: find the unit bucket the span falls into
    /// (the largest unit not above it). Print it there when it is whole
    /// there, else one unit lower when it is whole there (`90secs`, not
    /// `1.5mins`), else as a decimal in the bucket's unit with the 15
    /// significant digits of stout's stream (`1.500000001secs`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0.as_nanos();
        if nanos < US {
            return write!(f, "{nanos}ns");
        }
        let bucket = UNITS
            .iter()
            .rposition(|(_, per_unit)| nanos >= *per_unit)
            .unwrap_or(0);
        let (name, per_unit) = UNITS[bucket];
        let (lower_name, lower_per_unit) = UNITS[bucket.saturating_sub(1)];
        if nanos % per_unit == 0 {
            write!(f, "{}{name}", nanos / per_unit)
        } else if nanos % lower_per_unit == 0 {
            write!(f, "{}{lower_name}", nanos / lower_per_unit)
        } else {
            // stout divides as doubles, so precision beyond 2^53 ns is lost
            // exactly as upstream loses it.
            let value = nanos as f64 / per_unit as f64;
            write!(f, "{}{name}", significant_15(value))
        }
    }
}

/// A non-negative number the way a C++ stream with `precision(15)` prints
/// it (`printf("%.15g")`): 15 significant digits, trailing zeros dropped,
/// exponent notation only for very small or very large values.
fn significant_15(value: f64) -> String {
    const PRECISION: i32 = 15;
    // `{:e}` with 14 decimals rounds to exactly 15 significant digits.
    let scientific = format!("{value:.14e}");
    let Some((mantissa, exponent)) = scientific.split_once('e') else {
        return scientific;
    };
    let Ok(exponent) = exponent.parse::<i32>() else {
        return scientific;
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if !(-4..PRECISION).contains(&exponent) {
        let mantissa = trim_fraction(mantissa);
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exponent.unsigned_abs());
    }
    let text = if exponent >= 0 {
        let (whole, fraction) = digits.split_at((exponent as usize + 1).min(digits.len()));
        format!("{whole}.{fraction}")
    } else {
        let zeros = "0".repeat(exponent.unsigned_abs() as usize - 1);
        format!("0.{zeros}{digits}")
    };
    trim_fraction(&text).to_string()
}

/// Drops trailing zeros of a decimal fraction, and the point if nothing
/// is left after it.
fn trim_fraction(text: &str) -> &str {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration as Std;

    fn parse(text: &str) -> Std {
        Duration::parse(text).unwrap().0
    }

    fn show(duration: Std) -> String {
        Duration(duration).to_string()
    }

    #[test]
    fn parses_every_unit() {
        assert_eq!(parse("7ns"), Std::from_nanos(7));
        assert_eq!(parse("10ns"), Std::from_nanos(10));
        assert_eq!(parse("3us"), Std::from_micros(3));
        assert_eq!(parse("20us"), Std::from_micros(20));
        assert_eq!(parse("250ms"), Std::from_millis(250));
        assert_eq!(parse("5secs"), Std::from_secs(5));
        assert_eq!(parse("2mins"), Std::from_secs(120));
        assert_eq!(parse("15mins"), Std::from_secs(900));
        assert_eq!(parse("2hrs"), Std::from_secs(7200));
        assert_eq!(parse("3days"), Std::from_secs(3 * 86_400));
        assert_eq!(parse("1weeks"), Std::from_secs(604_800));
        assert_eq!(parse("2weeks"), Std::from_secs(14 * 86_400));
    }

    #[test]
    fn parses_fractions_like_stout() {
        assert_eq!(parse("1.5secs"), Std::from_millis(1500));
        assert_eq!(parse("0.5secs"), Std::from_millis(500));
        assert_eq!(parse(".5secs"), Std::from_millis(500));
        assert_eq!(parse("5.secs"), Std::from_secs(5));
        assert_eq!(parse("1.5mins"), Std::from_secs(90));
        assert_eq!(parse("0secs"), Std::ZERO);
        // stout truncates the product to whole nanoseconds: 8.2 * 1e9 is
        // 8199999999.999999 in binary floating point.
        assert_eq!(parse("8.2secs"), Std::from_nanos(8_199_999_999));
        assert_eq!(parse("1.9ns"), Std::from_nanos(1));
    }

    #[test]
    fn refuses_what_stout_refuses() {
        for bad in [
            "5s",
            "5",
            "",
            "secs",
            "-5secs",
            "+5secs",
            "5 secs",
            " 5secs",
            "5secs ",
            "5secs\n",
            "1.2.3secs",
            ".secs",
            "5sec",
            "5Secs",
            "5SECS",
            "1e3ms",
        ] {
            assert!(Duration::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn errors_carry_upstreams_messages() {
        let message = |text: &str| Duration::parse(text).unwrap_err().to_string();
        assert_eq!(message("15"), "Invalid duration '15'");
        assert_eq!(message(""), "Invalid duration ''");
        assert_eq!(
            message("5s"),
            "Unknown duration unit 's'; supported units are 'ns', 'us', 'ms', \
             'secs', 'mins', 'hrs', 'days', and 'weeks'"
        );
        assert_eq!(message("-5secs"), "Failed to convert '' to number");
        assert_eq!(message("1.2.3secs"), "Failed to convert '1.2.3' to number");
        assert!(matches!(
            Duration::parse("5s").unwrap_err(),
            Error::Duration(_)
        ));
    }

    #[test]
    fn refuses_what_does_not_fit_stouts_int64() {
        assert!(Duration::parse("1000000000weeks").is_err());
        assert_eq!(
            Duration::parse("106752days").unwrap_err().to_string(),
            "Duration '106752days' is out of range"
        );
        assert_eq!(parse("106751days"), Std::from_secs(106_751 * 86_400));
    }

    #[test]
    fn prints_the_largest_whole_unit() {
        assert_eq!(show(Std::ZERO), "0ns");
        assert_eq!(show(Std::from_nanos(10)), "10ns");
        assert_eq!(show(Std::from_nanos(999)), "999ns");
        assert_eq!(show(Std::from_micros(20)), "20us");
        assert_eq!(show(Std::from_millis(7)), "7ms");
        assert_eq!(show(Std::from_millis(250)), "250ms");
        assert_eq!(show(Std::from_secs(2)), "2secs");
        assert_eq!(show(Std::from_secs(15)), "15secs");
        assert_eq!(show(Std::from_secs(60)), "1mins");
        assert_eq!(show(Std::from_secs(900)), "15mins");
        assert_eq!(show(Std::from_secs(7200)), "2hrs");
        assert_eq!(show(Std::from_secs(3 * 86_400)), "3days");
        assert_eq!(show(Std::from_secs(10 * 86_400)), "10days");
        assert_eq!(show(Std::from_secs(604_800)), "1weeks");
        assert_eq!(show(Std::from_secs(14 * 86_400)), "2weeks");
    }

    #[test]
    fn prints_one_unit_lower_when_whole_there() {
        assert_eq!(show(Std::from_nanos(1_500)), "1500ns");
        assert_eq!(show(Std::from_micros(1_500)), "1500us");
        assert_eq!(show(Std::from_millis(1500)), "1500ms");
        assert_eq!(show(Std::from_secs(75)), "75secs");
        assert_eq!(show(Std::from_secs(90)), "90secs");
        assert_eq!(show(Std::from_secs(90 * 60)), "90mins");
        assert_eq!(show(Std::from_secs(36 * 3600)), "36hrs");
    }

    #[test]
    fn prints_decimals_with_fifteen_significant_digits() {
        // Not whole in the bucket nor one unit lower: a decimal in the
        // bucket's unit, as `stream.precision(15)` prints it.
        assert_eq!(show(Std::from_nanos(1_500_000_001)), "1.500000001secs");
        assert_eq!(show(Std::from_nanos(1_500_500)), "1.5005ms");
        assert_eq!(
            show(Std::from_nanos(60_000_000_001)),
            "1.00000000001667mins"
        );
        assert_eq!(
            show(Std::from_nanos(3_599_999_999_999)),
            "59.9999999999833mins"
        );
        assert_eq!(show(Std::from_nanos(8_199_999_999)), "8.199999999secs");
        // 15 digits cannot show the nanosecond: stout prints `1weeks` too.
        assert_eq!(show(Std::from_nanos(604_800_000_000_001)), "1weeks");
        assert_eq!(Duration::MAX.to_string(), "15250.2844524715weeks");
    }

    #[test]
    fn significant_digits_follow_printf() {
        assert_eq!(significant_15(1.5), "1.5");
        assert_eq!(significant_15(1.0), "1");
        assert_eq!(significant_15(123.456), "123.456");
        assert_eq!(significant_15(1.0 / 3.0), "0.333333333333333");
        assert_eq!(significant_15(0.00012), "0.00012");
        assert_eq!(significant_15(0.000012), "1.2e-05");
        assert_eq!(significant_15(1e15), "1e+15");
        assert_eq!(significant_15(9.999_999_999_999_999), "10");
    }

    #[test]
    fn round_trips() {
        for text in [
            "1secs", "5secs", "75secs", "1mins", "10mins", "15mins", "250ms", "7ms", "7hrs",
            "2hrs", "3days", "3weeks", "20us", "10ns", "1.5005ms",
        ] {
            assert_eq!(Duration::parse(text).unwrap().to_string(), text);
        }
        for duration in [
            Std::from_secs(5),
            Std::from_millis(3250),
            Std::from_micros(17),
            Std::from_secs(3 * 3600),
            Std::from_nanos(1_500_000_001),
        ] {
            assert_eq!(parse(&show(duration)), duration);
        }
    }

    #[test]
    fn constructors_count_negatives_as_zero_and_saturate() {
        assert_eq!(Duration::from_nanos(5).0, Std::from_nanos(5));
        assert_eq!(Duration::from_micros(5).0, Std::from_micros(5));
        assert_eq!(Duration::from_millis(5).0, Std::from_millis(5));
        assert_eq!(Duration::from_secs(5).0, Std::from_secs(5));
        assert_eq!(Duration::from_mins(5).0, Std::from_secs(300));
        assert_eq!(Duration::from_hrs(5).0, Std::from_secs(5 * 3600));
        assert_eq!(Duration::from_days(5).0, Std::from_secs(5 * 86_400));
        assert_eq!(Duration::from_weeks(5).0, Std::from_secs(35 * 86_400));
        assert_eq!(Duration::from_secs(-1), Duration::ZERO);
        assert_eq!(Duration::from_nanos(i64::MIN), Duration::ZERO);
        assert_eq!(Duration::from_weeks(i64::MAX), Duration::MAX);
        assert_eq!(Duration::from_nanos(i64::MAX), Duration::MAX);
        assert!(Duration::from_secs(1) < Duration::from_mins(1));
    }

    #[test]
    fn from_secs_f64_follows_stouts_create() {
        assert_eq!(
            Duration::from_secs_f64(2.5),
            Some(Duration(Std::from_millis(2500)))
        );
        assert_eq!(Duration::from_secs_f64(0.0), Some(Duration::ZERO));
        assert_eq!(Duration::from_secs_f64(-1.0), Some(Duration::ZERO));
        assert_eq!(
            Duration::from_secs_f64(1e9),
            Some(Duration::from_secs(1_000_000_000))
        );
        // 1e12 secs is 1e21 ns, beyond stout's int64.
        assert_eq!(Duration::from_secs_f64(1e12), None);
        assert_eq!(Duration::from_secs_f64(-1e20), None);
        assert_eq!(Duration::from_secs_f64(f64::NAN), None);
        assert_eq!(Duration::from_secs_f64(f64::INFINITY), None);
    }

    #[test]
    fn converts_to_and_from_std() {
        let std = Std::from_millis(1500);
        let stout = Duration::from(std);
        assert_eq!(stout.to_std(), std);
        assert_eq!(Std::from(stout), std);
        assert_eq!(stout.secs_f64(), 1.5);
        assert_eq!("1500ms".parse::<Duration>().unwrap(), stout);
        assert!("1500s".parse::<Duration>().is_err());
    }

    #[test]
    fn works_as_a_clap_value_parser() {
        use clap::Parser;

        #[derive(Parser, Debug)]
        struct Flags {
            #[arg(long, value_parser = Duration::parse)]
            timeout: Duration,
            #[arg(long)]
            grace: Option<Duration>,
        }

        let flags = Flags::try_parse_from(["x", "--timeout=15mins", "--grace=250ms"]).unwrap();
        assert_eq!(flags.timeout, Duration::from_mins(15));
        assert_eq!(flags.grace, Some(Duration::from_millis(250)));
        let error = Flags::try_parse_from(["x", "--timeout=5s"])
            .unwrap_err()
            .to_string();
        assert!(error.contains("Unknown duration unit 's'"), "{error}");
    }
}
