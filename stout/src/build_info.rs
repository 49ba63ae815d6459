//! What `/version` and `/state` report about this build (upstream
//! `build.hpp`): date, time and user, and the git commit, branch and tag
//! when the build came from a git checkout. The values are recorded by
//! `build.rs` when this crate is compiled; a build outside git simply has
//! no git fields.
//!
//! This module only holds the facts; it never formats JSON.

/// Seconds since the epoch when this crate was built.
pub fn build_time() -> u64 {
    env!("MESOS_BUILD_TIME").parse().unwrap_or(0)
}

/// `build_time` as upstream prints it: `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn build_date() -> String {
    format_utc(build_time())
}

/// Who built it (`$USER`), possibly empty.
pub fn build_user() -> &'static str {
    env!("MESOS_BUILD_USER")
}

/// The full commit hash, when built from git.
pub fn git_sha() -> Option<&'static str> {
    non_empty(env!("MESOS_BUILD_GIT_SHA"))
}

/// The branch checked out, when built from git on a branch.
pub fn git_branch() -> Option<&'static str> {
    non_empty(env!("MESOS_BUILD_GIT_BRANCH"))
}

/// The tag pointing at the commit, when there is one.
pub fn git_tag() -> Option<&'static str> {
    non_empty(env!("MESOS_BUILD_GIT_TAG"))
}

fn non_empty(value: &'static str) -> Option<&'static str> {
    (!value.is_empty()).then_some(value)
}

/// Seconds since the epoch as `YYYY-MM-DD HH:MM:SS` in UTC.
pub fn format_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00");
        assert_eq!(format_utc(1_722_470_400), "2024-08-01 00:00:00");
        assert_eq!(format_utc(951_782_400 + 3_723), "2000-02-29 01:02:03");
    }

    #[test]
    fn records_this_build() {
        assert!(build_time() > 1_700_000_000);
        assert_eq!(build_date(), format_utc(build_time()));
        // This crate's tests run from a git checkout in development and CI.
        if let Some(sha) = git_sha() {
            assert_eq!(sha.len(), 40);
            assert!(sha.chars().all(|c| c.is_ascii_hexdigit()));
        }
    }
}
