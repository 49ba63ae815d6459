//! Kill grace periods and SIGTERM → SIGKILL escalation timing.
//!
//! Owns only the arithmetic (which grace period applies; when SIGKILL is
//! due, and how a repeated kill may move it). Sending signals is
//! [`crate::command::signal_tree`]'s job; the executor loop owns the timer.

use std::time::Duration;

use mesos_proto::mesos::v1::KillPolicy;
use tokio::time::Instant;

/// Upstream's command executor default, kept for backwards compatibility.
pub const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(3);

/// The grace period for a kill: the KILL event's policy wins over the
/// task's, and both over the 3 s default. Negative durations count as zero.
pub fn grace_period(
    event_policy: Option<&KillPolicy>,
    task_policy: Option<&KillPolicy>,
) -> Duration {
    [event_policy, task_policy]
        .into_iter()
        .flatten()
        .find_map(|policy| policy.grace_period.as_ref())
        .map(|d| Duration::from_nanos(u64::try_from(d.nanoseconds).unwrap_or(0)))
        .unwrap_or(DEFAULT_GRACE_PERIOD)
}

/// The grace period used on SHUTDOWN: the agent's shutdown grace period
/// minus a buffer, so SIGKILL and the terminal update happen before the
/// agent destroys the container (upstream subtracts its maximum reap
/// interval, 1 s, and another second).
pub fn shutdown_grace_period(shutdown_grace: Duration) -> Duration {
    shutdown_grace.saturating_sub(Duration::from_secs(2))
}

/// When SIGKILL follows the SIGTERM of a task being killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Escalation {
    start: Instant,
    deadline: Instant,
}

impl Escalation {
    /// SIGTERM was sent at `now`; SIGKILL is due after `grace`.
    pub fn begin(now: Instant, grace: Duration) -> Escalation {
        Escalation {
            start: now,
            deadline: now + grace,
        }
    }

    /// When SIGKILL is due.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// A repeated kill with `grace`, counted from the first SIGTERM. It may
    /// shorten the total grace period (SIGKILL at once if that much time has
    /// already passed) but never extend it, so a retried KILL is a no-op.
    /// Returns whether the deadline moved.
    pub fn shorten(&mut self, now: Instant, grace: Duration) -> bool {
        let proposed = self.start + grace;
        if proposed >= self.deadline {
            return false;
        }
        self.deadline = proposed.max(now);
        true
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use mesos_proto::mesos::v1::DurationInfo;

    fn policy(nanos: i64) -> KillPolicy {
        KillPolicy {
            grace_period: Some(DurationInfo { nanoseconds: nanos }),
        }
    }

    #[test]
    fn event_policy_beats_task_policy_beats_default() {
        assert_eq!(grace_period(None, None), Duration::from_secs(3));
        assert_eq!(
            grace_period(None, Some(&policy(5_000_000_000))),
            Duration::from_secs(5)
        );
        assert_eq!(
            grace_period(Some(&policy(1_000_000_000)), Some(&policy(5_000_000_000))),
            Duration::from_secs(1)
        );
        // A policy without a grace period does not override.
        assert_eq!(
            grace_period(Some(&KillPolicy::default()), Some(&policy(7))),
            Duration::from_nanos(7)
        );
        assert_eq!(grace_period(Some(&policy(-5)), None), Duration::ZERO);
    }

    #[test]
    fn shutdown_leaves_a_buffer() {
        assert_eq!(
            shutdown_grace_period(Duration::from_secs(5)),
            Duration::from_secs(3)
        );
        assert_eq!(
            shutdown_grace_period(Duration::from_secs(1)),
            Duration::ZERO
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_repeated_kill_never_extends() {
        let start = Instant::now();
        let mut escalation = Escalation::begin(start, Duration::from_secs(20));
        tokio::time::advance(Duration::from_secs(2)).await;
        // 20 then 30: no-op; 20 then 20 (a retry): no-op.
        assert!(!escalation.shorten(Instant::now(), Duration::from_secs(30)));
        assert!(!escalation.shorten(Instant::now(), Duration::from_secs(20)));
        assert_eq!(escalation.deadline(), start + Duration::from_secs(20));
    }

    #[tokio::test(start_paused = true)]
    async fn a_shorter_kill_counts_from_the_first_sigterm() {
        let start = Instant::now();
        let mut escalation = Escalation::begin(start, Duration::from_secs(20));
        tokio::time::advance(Duration::from_secs(2)).await;
        // 20 then 5 after 2 s: SIGKILL 3 s from now (5 s in total).
        assert!(escalation.shorten(Instant::now(), Duration::from_secs(5)));
        assert_eq!(escalation.deadline(), start + Duration::from_secs(5));
        assert_eq!(
            escalation.deadline() - Instant::now(),
            Duration::from_secs(3)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_kill_shorter_than_the_elapsed_time_escalates_now() {
        let start = Instant::now();
        let mut escalation = Escalation::begin(start, Duration::from_secs(20));
        tokio::time::advance(Duration::from_secs(10)).await;
        // 20 then 5 after 10 s: SIGKILL immediately (10 s in total).
        assert!(escalation.shorten(Instant::now(), Duration::from_secs(5)));
        assert_eq!(escalation.deadline(), Instant::now());
        tokio::time::sleep_until(escalation.deadline()).await;
        assert_eq!(Instant::now() - start, Duration::from_secs(10));
    }
}
