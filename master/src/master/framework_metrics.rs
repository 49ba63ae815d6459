//! Upstream's per-framework counters (`FrameworkMetrics` of the master),
//! published under `master/frameworks/<encoded name>/<framework id>/` with
//! `--publish_per_framework_metrics`: `calls` and `calls/<call type>`,
//! `events` and `events/<event type>`, `offers/{sent,accepted,declined,
//! rescinded}`, `operations` and `operations/<operation type>`, and
//! `tasks/terminal/<task state>`. Type and state names are the protobuf
//! enum names in lower case. Every name exists (at 0) from the moment the
//! framework is added, as upstream registers them all at once, and goes
//! with the framework's record when it is removed.
//!
//! The counts live in the framework's record, changed only by the master
//! actor where the call, event, offer or transition happens.

use std::collections::BTreeMap;

use mesos_proto::is_terminal_state;
use mesos_proto::mesos::v1::offer::operation::Type as OperationType;
use mesos_proto::mesos::v1::scheduler::{call, event, Event};
use mesos_proto::mesos::v1::TaskState;

/// Enum values are small; scanning this range finds every one.
const ENUM_RANGE: std::ops::RangeInclusive<i32> = 0..=64;

#[derive(Debug, Clone, Default)]
pub struct FrameworkMetrics {
    calls: BTreeMap<i32, u64>,
    events: BTreeMap<i32, u64>,
    operations: BTreeMap<i32, u64>,
    terminal_tasks: BTreeMap<i32, u64>,
    offers_sent: u64,
    offers_accepted: u64,
    offers_declined: u64,
    offers_rescinded: u64,
    /// HEARTBEAT events, counted by the stream that sends them.
    heartbeats: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl FrameworkMetrics {
    /// A call the framework made (upstream `incrementCall`).
    pub fn call(&mut self, kind: call::Type) {
        if kind != call::Type::Unknown {
            *self.calls.entry(kind as i32).or_default() += 1;
        }
    }

    /// An event sent to the framework (upstream `incrementEvent`); an
    /// OFFERS event also counts its offers as sent.
    pub fn event(&mut self, event: &Event) {
        let kind = event.r#type.unwrap_or(0);
        if kind == event::Type::Unknown as i32 {
            return;
        }
        *self.events.entry(kind).or_default() += 1;
        if kind == event::Type::Offers as i32 {
            self.offers_sent += event.offers.as_ref().map_or(0, |o| o.offers.len()) as u64;
        }
    }

    /// An event of `kind` sent by a path that has no [`Event`] at hand (a
    /// v0 driver's status update or registration).
    pub fn event_of(&mut self, kind: event::Type) {
        if kind != event::Type::Unknown {
            *self.events.entry(kind as i32).or_default() += 1;
        }
    }

    /// An offer operation the framework had applied.
    pub fn operation(&mut self, kind: OperationType) {
        if kind != OperationType::Unknown {
            *self.operations.entry(kind as i32).or_default() += 1;
        }
    }

    /// One of its tasks moved into `state`; only terminal states are
    /// counted (the active ones are gauges over the task records).
    pub fn task_state(&mut self, state: i32) {
        if is_terminal_state(state) {
            *self.terminal_tasks.entry(state).or_default() += 1;
        }
    }

    /// Where the framework's HTTP stream counts the heartbeats it sends.
    pub fn heartbeats(&self) -> std::sync::Arc<std::sync::atomic::AtomicU64> {
        std::sync::Arc::clone(&self.heartbeats)
    }

    pub fn offers_accepted(&mut self, n: usize) {
        self.offers_accepted += n as u64;
    }

    pub fn offers_declined(&mut self, n: usize) {
        self.offers_declined += n as u64;
    }

    pub fn offer_rescinded(&mut self) {
        self.offers_rescinded += 1;
    }

    /// Adds every counter under `prefix` (which ends in `/`).
    pub fn export(&self, prefix: &str, out: &mut BTreeMap<String, f64>) {
        let mut put = |name: String, value: u64| {
            out.insert(format!("{prefix}{name}"), value as f64);
        };
        put("calls".into(), self.calls.values().sum());
        for kind in ENUM_RANGE.filter_map(|n| call::Type::try_from(n).ok()) {
            if kind != call::Type::Unknown {
                let count = self.calls.get(&(kind as i32)).copied().unwrap_or(0);
                put(format!("calls/{}", lower(kind.as_str_name())), count);
            }
        }
        let heartbeats = self.heartbeats.load(std::sync::atomic::Ordering::Relaxed);
        put(
            "events".into(),
            self.events.values().sum::<u64>() + heartbeats,
        );
        for kind in ENUM_RANGE.filter_map(|n| event::Type::try_from(n).ok()) {
            if kind != event::Type::Unknown {
                let mut count = self.events.get(&(kind as i32)).copied().unwrap_or(0);
                if kind == event::Type::Heartbeat {
                    count += heartbeats;
                }
                put(format!("events/{}", lower(kind.as_str_name())), count);
            }
        }
        put("operations".into(), self.operations.values().sum());
        for kind in ENUM_RANGE.filter_map(|n| OperationType::try_from(n).ok()) {
            if kind != OperationType::Unknown {
                let count = self.operations.get(&(kind as i32)).copied().unwrap_or(0);
                put(format!("operations/{}", lower(kind.as_str_name())), count);
            }
        }
        for state in ENUM_RANGE.filter_map(|n| TaskState::try_from(n).ok()) {
            if is_terminal_state(state as i32) {
                let count = self
                    .terminal_tasks
                    .get(&(state as i32))
                    .copied()
                    .unwrap_or(0);
                put(
                    format!("tasks/terminal/{}", lower(state.as_str_name())),
                    count,
                );
            }
        }
        put("offers/sent".into(), self.offers_sent);
        put("offers/accepted".into(), self.offers_accepted);
        put("offers/declined".into(), self.offers_declined);
        put("offers/rescinded".into(), self.offers_rescinded);
    }
}

fn lower(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// Whether `name` is one of the per-framework counters above (the rest of
/// `master/frameworks/…` are gauges: `subscribed`, `tasks/active/…`,
/// `roles/<role>/suppressed`).
pub fn is_counter(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("master/frameworks/") else {
        return false;
    };
    // The encoded name and the id hold no `/`.
    let mut parts = rest.splitn(3, '/');
    let (Some(_name), Some(_id), Some(metric)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    matches!(metric, "calls" | "events" | "operations")
        || metric.starts_with("calls/")
        || metric.starts_with("events/")
        || metric.starts_with("operations/")
        || metric.starts_with("offers/")
        || metric.starts_with("tasks/terminal/")
}

/// How `/metrics/prometheus` describes the master's metrics: the static
/// tables plus the per-framework counters, whose names are not known up
/// front.
pub struct MasterMetrics;

impl libprocess::metrics::Describe for MasterMetrics {
    fn is_counter(&self, name: &str) -> bool {
        super::METRIC_TABLES.is_counter(name) || is_counter(name)
    }

    fn is_timer(&self, name: &str) -> bool {
        super::METRIC_TABLES.is_timer(name)
    }

    fn help(&self, name: &str) -> Option<&str> {
        super::METRIC_TABLES.help(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counter_is_exported_from_zero_with_upstream_names() {
        let mut metrics = FrameworkMetrics::default();
        metrics.call(call::Type::Accept);
        metrics.call(call::Type::Accept);
        metrics.call(call::Type::Decline);
        metrics.event(&Event {
            r#type: Some(event::Type::Offers as i32),
            offers: Some(event::Offers {
                offers: vec![Default::default(), Default::default()],
            }),
            ..Default::default()
        });
        metrics.event_of(event::Type::Update);
        metrics.operation(OperationType::Launch);
        metrics.task_state(TaskState::TaskFinished as i32);
        metrics.task_state(TaskState::TaskRunning as i32);
        metrics.offers_accepted(1);
        metrics.offer_rescinded();
        let mut out = BTreeMap::new();
        metrics.export("master/frameworks/f/id-0000/", &mut out);
        let get = |n: &str| out[&format!("master/frameworks/f/id-0000/{n}")];
        assert_eq!(get("calls"), 3.0);
        assert_eq!(get("calls/accept"), 2.0);
        assert_eq!(get("calls/decline"), 1.0);
        assert_eq!(get("calls/subscribe"), 0.0);
        assert_eq!(get("calls/reconcile_operations"), 0.0);
        assert_eq!(get("events"), 2.0);
        assert_eq!(get("events/offers"), 1.0);
        assert_eq!(get("events/update"), 1.0);
        assert_eq!(get("events/heartbeat"), 0.0);
        assert_eq!(get("events/update_operation_status"), 0.0);
        assert_eq!(get("offers/sent"), 2.0);
        assert_eq!(get("offers/accepted"), 1.0);
        assert_eq!(get("offers/declined"), 0.0);
        assert_eq!(get("offers/rescinded"), 1.0);
        assert_eq!(get("operations"), 1.0);
        assert_eq!(get("operations/launch"), 1.0);
        assert_eq!(get("operations/launch_group"), 0.0);
        assert_eq!(get("operations/reserve"), 0.0);
        assert_eq!(get("tasks/terminal/task_finished"), 1.0);
        assert_eq!(get("tasks/terminal/task_gone_by_operator"), 0.0);
        // Running is active, a gauge elsewhere.
        assert!(!out
            .keys()
            .any(|k| k.contains("tasks/terminal/task_running")));
        assert!(!out.keys().any(|k| k.ends_with("/unknown")));
        assert!(out.keys().all(|k| is_counter(k)), "{out:?}");
    }

    #[test]
    fn gauges_are_not_counters() {
        for gauge in [
            "master/frameworks/f/id/subscribed",
            "master/frameworks/f/id/tasks/active/task_running",
            "master/frameworks/f/id/roles/*/suppressed",
            "master/frameworks_active",
            "master/tasks_running",
        ] {
            assert!(!is_counter(gauge), "{gauge}");
        }
        assert!(is_counter("master/frameworks/a%20b/id/offers/sent"));
    }
}
