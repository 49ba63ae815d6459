//! A rate-limited log of refused messages, so a peer that floods a process
//! with messages it may not send costs one log line per minute, not one per
//! message.
//!
//! Owns the per-sender counts and the decision when to write a line. Never
//! decides what is refused; the component that refuses reports it here.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

/// How often a sender's refusals are reported after the first one.
pub const DEFAULT_REPORT_INTERVAL: Duration = Duration::from_secs(60);

/// Senders remembered at once; beyond that the ones reported longest ago
/// are forgotten (they are reported again as new), so memory stays bounded
/// whatever ids a hostile peer makes up.
pub const DEFAULT_MAX_SENDERS: usize = 1024;

/// Longest sender name kept (and logged): a made-up `Libprocess-From` can be
/// as long as a header, and the table must stay small.
pub const MAX_SENDER_LENGTH: usize = 256;

/// `sender`, cut to [`MAX_SENDER_LENGTH`] bytes on a character boundary.
fn bounded(sender: &str) -> &str {
    if sender.len() <= MAX_SENDER_LENGTH {
        return sender;
    }
    let mut end = MAX_SENDER_LENGTH;
    while !sender.is_char_boundary(end) {
        end -= 1;
    }
    &sender[..end]
}

#[derive(Debug)]
struct Sender {
    last_report: Instant,
    /// Refusals since the last line.
    suppressed: u64,
}

/// Refusals per sender: the first is logged at once, later ones at most once
/// per interval, with how many were not logged in between.
#[derive(Debug)]
pub struct RefusalLog {
    interval: Duration,
    max_senders: usize,
    senders: HashMap<String, Sender>,
    total: u64,
}

impl Default for RefusalLog {
    fn default() -> RefusalLog {
        RefusalLog::new(DEFAULT_REPORT_INTERVAL, DEFAULT_MAX_SENDERS)
    }
}

impl RefusalLog {
    pub fn new(interval: Duration, max_senders: usize) -> RefusalLog {
        RefusalLog {
            interval,
            max_senders: max_senders.max(1),
            senders: HashMap::new(),
            total: 0,
        }
    }

    /// Every refusal recorded, logged or not.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Records that `what` from `sender` was refused because `why`, and
    /// writes a warning when this sender is due one.
    pub fn refuse(&mut self, sender: &str, what: &str, why: &str) {
        let sender = bounded(sender);
        if let Some(suppressed) = self.record(sender) {
            if suppressed == 0 {
                tracing::warn!("Refused {what} from {sender}: {why}");
            } else {
                tracing::warn!(
                    "Refused {what} from {sender}: {why} \
                     ({suppressed} more refusals from this sender since the last report)"
                );
            }
        }
    }

    /// Counts one refusal; `Some(n)` when a line is due, `n` being the
    /// refusals from this sender not reported since its last line.
    pub fn record(&mut self, sender: &str) -> Option<u64> {
        let sender = bounded(sender);
        self.total += 1;
        let now = Instant::now();
        if let Some(entry) = self.senders.get_mut(sender) {
            if now.duration_since(entry.last_report) >= self.interval {
                let suppressed = entry.suppressed;
                entry.suppressed = 0;
                entry.last_report = now;
                return Some(suppressed);
            }
            entry.suppressed += 1;
            return None;
        }
        if self.senders.len() >= self.max_senders {
            self.forget_oldest();
        }
        self.senders.insert(
            sender.to_string(),
            Sender {
                last_report: now,
                suppressed: 0,
            },
        );
        Some(0)
    }

    fn forget_oldest(&mut self) {
        // Linear, but only when the table is full, and then it halves it:
        // the cost per refusal stays constant on average.
        let mut reports: Vec<Instant> = self.senders.values().map(|s| s.last_report).collect();
        reports.sort_unstable();
        let cutoff = reports[reports.len() / 2];
        self.senders.retain(|_, s| s.last_report > cutoff);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn first_refusal_then_one_line_per_interval_with_the_count() {
        let mut log = RefusalLog::new(Duration::from_secs(60), 16);
        assert_eq!(log.record("master@10.0.0.9:5050"), Some(0));
        for _ in 0..99 {
            assert_eq!(log.record("master@10.0.0.9:5050"), None);
        }
        assert_eq!(log.record("other@10.0.0.9:1"), Some(0), "senders apart");
        tokio::time::advance(Duration::from_secs(61)).await;
        assert_eq!(log.record("master@10.0.0.9:5050"), Some(99));
        assert_eq!(log.record("master@10.0.0.9:5050"), None);
        assert_eq!(log.total(), 103);
    }

    #[tokio::test(start_paused = true)]
    async fn made_up_senders_never_grow_the_table_past_its_bound() {
        let mut log = RefusalLog::new(Duration::from_secs(60), 8);
        for i in 0..1000 {
            tokio::time::advance(Duration::from_millis(1)).await;
            assert_eq!(log.record(&format!("x{i}@1.2.3.4:1")), Some(0));
            assert!(log.senders.len() <= 8);
        }
        assert_eq!(log.total(), 1000);
    }

    #[test]
    fn long_sender_names_are_cut() {
        let long = format!("{}@1.2.3.4:1", "é".repeat(1000));
        assert!(bounded(&long).len() <= MAX_SENDER_LENGTH);
        assert!(long.starts_with(bounded(&long)));
        assert_eq!(bounded("master@1.2.3.4:5050"), "master@1.2.3.4:5050");
    }
}
