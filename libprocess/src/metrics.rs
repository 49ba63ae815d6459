//! Metrics as libprocess's metrics process shows them: flat names
//! (`master/tasks_running`) with numeric values for `/metrics/snapshot`,
//! [`Timer`]s that expand into upstream's summary statistics
//! (`<name>/count`, `/min`, `/max`, `/p50` … `/p9999`), and the one
//! Prometheus text-format (0.0.4) renderer both master and agent serve at
//! `/metrics/prometheus`.
//!
//! This module owns names, statistics and text forms. It never decides
//! which metrics a component has or what they count; components hand it
//! their values and say which names are counters and which are timers.
//!
//! Prometheus names (a stable scheme, documented here once):
//! - `mesos_` + the upstream name with every character outside
//!   `[A-Za-z0-9_]` replaced by `_` (`master/tasks_running` →
//!   `mesos_master_tasks_running`);
//! - a millisecond metric (`…_ms`) becomes `…_seconds`, its values divided
//!   by 1000 (Prometheus uses base units);
//! - counters get a `_total` suffix (`master/tasks_finished` →
//!   `mesos_master_tasks_finished_total`), and since that suffix is
//!   reserved for counters a gauge's `_total` becomes `_capacity`
//!   (`master/cpus_total` → `mesos_master_cpus_capacity`);
//! - a timer becomes a `summary` (`quantile` labels for `p50` … `p9999`,
//!   `_count` for the number of samples in the window) plus gauges `_last`,
//!   `_min` and `_max`;
//! - every family has a `# HELP` line naming the upstream metric, so a
//!   dashboard can be mapped back to upstream's documentation.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;

/// How many samples a [`Timer`] keeps (upstream's time series capacity).
pub const TIMER_WINDOW: usize = 1000;

/// Upstream's statistics suffixes with the quantile each stands for.
const QUANTILES: [(&str, f64); 6] = [
    ("p50", 0.5),
    ("p90", 0.9),
    ("p95", 0.95),
    ("p99", 0.99),
    ("p999", 0.999),
    ("p9999", 0.9999),
];

/// A duration metric in milliseconds (upstream `Timer<Milliseconds>`): the
/// last sample under its own name, and statistics over the last
/// [`TIMER_WINDOW`] samples once there are at least two (upstream shows
/// none for fewer).
#[derive(Clone, Debug, Default)]
pub struct Timer {
    samples: VecDeque<f64>,
}

impl Timer {
    pub fn new() -> Timer {
        Timer::default()
    }

    /// Records one duration.
    pub fn record(&mut self, duration: std::time::Duration) {
        self.record_ms(duration.as_secs_f64() * 1000.0);
    }

    /// Records one duration given in milliseconds.
    pub fn record_ms(&mut self, ms: f64) {
        if self.samples.len() == TIMER_WINDOW {
            self.samples.pop_front();
        }
        self.samples.push_back(ms);
    }

    /// Adds `name` (the last sample) and its statistics to `metrics`.
    /// Nothing is added before the first sample, as upstream.
    pub fn export(&self, name: &str, metrics: &mut BTreeMap<String, f64>) {
        let Some(last) = self.samples.back() else {
            return;
        };
        metrics.insert(name.to_string(), *last);
        if self.samples.len() < 2 {
            return;
        }
        let mut sorted: Vec<f64> = self.samples.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        metrics.insert(format!("{name}/count"), n as f64);
        metrics.insert(format!("{name}/min"), sorted[0]);
        metrics.insert(format!("{name}/max"), sorted[n - 1]);
        for (suffix, q) in QUANTILES {
            metrics.insert(format!("{name}/{suffix}"), percentile(&sorted, q));
        }
    }
}

/// Linear interpolation between closest ranks (upstream's `Statistics`).
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let position = q * (sorted.len() - 1) as f64;
    let lower = position.floor() as usize;
    let upper = position.ceil() as usize;
    let weight = position - lower as f64;
    sorted[lower] + (sorted[upper] - sorted[lower]) * weight
}

/// What the renderer needs to know about a component's metrics.
pub trait Describe {
    /// Whether `name` only ever grows (rendered as a Prometheus counter).
    fn is_counter(&self, name: &str) -> bool;
    /// Whether `name` is a [`Timer`]'s base name.
    fn is_timer(&self, name: &str) -> bool;
    /// A sentence describing `name`, if the component has one.
    fn help(&self, name: &str) -> Option<&str>;
}

/// `mesos_` + `name` with every character outside `[A-Za-z0-9_]` as `_`.
pub fn prometheus_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 6);
    out.push_str("mesos_");
    out.extend(
        name.chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }),
    );
    out
}

/// The Prometheus base name and value scale of a metric: `…_ms` becomes
/// `…_seconds`, scaled by 1/1000.
fn base_unit(name: &str) -> (String, f64) {
    let sanitised = prometheus_name(name);
    match sanitised.strip_suffix("_ms") {
        Some(stem) => (format!("{stem}_seconds"), 0.001),
        None => (sanitised, 1.0),
    }
}

/// A sample value as the text format spells it.
fn value_text(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_string()
    } else if value == f64::INFINITY {
        "+Inf".to_string()
    } else if value == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else {
        format!("{value}")
    }
}

/// HELP text escapes `\` and newlines.
fn help_text(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Renders `metrics` (the `/metrics/snapshot` map) in the Prometheus text
/// format 0.0.4. Families whose sanitised names collide are shown once
/// (the first in name order), since an exposition may not repeat one.
pub fn render_prometheus(metrics: &BTreeMap<String, f64>, describe: &dyn Describe) -> String {
    let mut out = String::new();
    let mut emitted: BTreeSet<String> = BTreeSet::new();
    // Names that belong to a timer's statistics are rendered with it.
    let timer_of = |name: &str| -> Option<String> {
        if describe.is_timer(name) {
            return Some(name.to_string());
        }
        let (base, suffix) = name.rsplit_once('/')?;
        let is_stat = matches!(suffix, "count" | "min" | "max")
            || QUANTILES.iter().any(|(s, _)| *s == suffix);
        (is_stat && describe.is_timer(base)).then(|| base.to_string())
    };
    let mut timers: BTreeSet<String> = BTreeSet::new();
    for (name, value) in metrics {
        if let Some(timer) = timer_of(name) {
            timers.insert(timer);
            continue;
        }
        let (mut family, scale) = base_unit(name);
        let counter = describe.is_counter(name);
        if counter && !family.ends_with("_total") {
            family.push_str("_total");
        } else if !counter {
            // `_total` is reserved for counters; a gauge such as
            // `master/cpus_total` is a capacity.
            if let Some(stem) = family.strip_suffix("_total") {
                family = format!("{stem}_capacity");
            }
        }
        if !emitted.insert(family.clone()) {
            continue;
        }
        let help = describe
            .help(name)
            .map(|h| format!("{} (Mesos metric {name}).", h.trim_end_matches('.')))
            .unwrap_or_else(|| format!("Mesos metric {name}."));
        let kind = if counter { "counter" } else { "gauge" };
        let _ = writeln!(out, "# HELP {family} {}", help_text(&help));
        let _ = writeln!(out, "# TYPE {family} {kind}");
        let _ = writeln!(out, "{family} {}", value_text(value * scale));
    }
    for timer in timers {
        render_timer(&mut out, &mut emitted, &timer, metrics, describe);
    }
    out
}

fn render_timer(
    out: &mut String,
    emitted: &mut BTreeSet<String>,
    timer: &str,
    metrics: &BTreeMap<String, f64>,
    describe: &dyn Describe,
) {
    let (family, scale) = base_unit(timer);
    let help = describe
        .help(timer)
        .map(|h| h.trim_end_matches('.').to_string())
        .unwrap_or_else(|| "Durations".to_string());
    let stat = |suffix: &str| metrics.get(&format!("{timer}/{suffix}")).copied();
    if let Some(count) = stat("count") {
        if emitted.insert(family.clone()) {
            let _ = writeln!(
                out,
                "# HELP {family} {} over the last samples (Mesos metric {timer}).",
                help_text(&help)
            );
            let _ = writeln!(out, "# TYPE {family} summary");
            for (suffix, q) in QUANTILES {
                if let Some(value) = stat(suffix) {
                    let _ = writeln!(
                        out,
                        "{family}{{quantile=\"{q}\"}} {}",
                        value_text(value * scale)
                    );
                }
            }
            let _ = writeln!(out, "{family}_count {}", value_text(count));
        }
    }
    let gauges = [
        ("last", metrics.get(timer).copied(), "The last sample"),
        ("min", stat("min"), "The smallest sample"),
        ("max", stat("max"), "The largest sample"),
    ];
    for (suffix, value, what) in gauges {
        let Some(value) = value else { continue };
        let name = format!("{family}_{suffix}");
        if !emitted.insert(name.clone()) {
            continue;
        }
        let upstream = if suffix == "last" {
            timer.to_string()
        } else {
            format!("{timer}/{suffix}")
        };
        let _ = writeln!(
            out,
            "# HELP {name} {what} of: {} (Mesos metric {upstream}).",
            help_text(&help)
        );
        let _ = writeln!(out, "# TYPE {name} gauge");
        let _ = writeln!(out, "{name} {}", value_text(value * scale));
    }
}

/// A [`Describe`] from static tables, for components whose metric names
/// are known up front.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tables {
    pub counters: &'static [&'static str],
    pub timers: &'static [&'static str],
    /// (name, help) pairs.
    pub help: &'static [(&'static str, &'static str)],
}

impl Describe for Tables {
    fn is_counter(&self, name: &str) -> bool {
        self.counters.contains(&name)
    }

    fn is_timer(&self, name: &str) -> bool {
        self.timers.contains(&name)
    }

    fn help(&self, name: &str) -> Option<&str> {
        self.help.iter().find(|(n, _)| *n == name).map(|(_, h)| *h)
    }
}

/// The media type of [`render_prometheus`]'s output.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    const TABLES: Tables = Tables {
        counters: &["master/tasks_finished"],
        timers: &["allocator/mesos/allocation_run_ms"],
        help: &[("master/tasks_running", "Number of running tasks")],
    };

    #[test]
    fn timer_statistics_need_two_samples() {
        let mut timer = Timer::new();
        let mut metrics = BTreeMap::new();
        timer.export("t_ms", &mut metrics);
        assert!(metrics.is_empty());
        timer.record_ms(4.0);
        timer.export("t_ms", &mut metrics);
        assert_eq!(metrics.len(), 1);
        assert_eq!(metrics["t_ms"], 4.0);
        timer.record_ms(2.0);
        timer.export("t_ms", &mut metrics);
        assert_eq!(metrics["t_ms"], 2.0);
        assert_eq!(metrics["t_ms/count"], 2.0);
        assert_eq!(metrics["t_ms/min"], 2.0);
        assert_eq!(metrics["t_ms/max"], 4.0);
        assert_eq!(metrics["t_ms/p50"], 3.0);
    }

    #[test]
    fn timer_window_is_bounded() {
        let mut timer = Timer::new();
        for i in 0..(TIMER_WINDOW + 10) {
            timer.record_ms(i as f64);
        }
        let mut metrics = BTreeMap::new();
        timer.export("t", &mut metrics);
        assert_eq!(metrics["t/count"], TIMER_WINDOW as f64);
        assert_eq!(metrics["t/min"], 10.0);
    }

    #[test]
    fn names_are_sanitised_and_typed() {
        let mut metrics = BTreeMap::new();
        metrics.insert("master/tasks_running".to_string(), 2.0);
        metrics.insert("master/tasks_finished".to_string(), 3.0);
        metrics.insert("registrar/state_store_ms".to_string(), 1500.0);
        metrics.insert("master/cpus_total".to_string(), 4.0);
        let text = render_prometheus(&metrics, &TABLES);
        assert!(text
            .contains("# TYPE mesos_master_tasks_running gauge\nmesos_master_tasks_running 2\n"));
        assert!(text.contains("# HELP mesos_master_tasks_running Number of running tasks (Mesos metric master/tasks_running).\n"));
        assert!(text.contains("# TYPE mesos_master_tasks_finished_total counter\nmesos_master_tasks_finished_total 3\n"));
        assert!(text.contains("mesos_registrar_state_store_seconds 1.5\n"));
        assert!(text
            .contains("# TYPE mesos_master_cpus_capacity gauge\nmesos_master_cpus_capacity 4\n"));
    }

    #[test]
    fn timers_render_as_summaries() {
        let mut timer = Timer::new();
        timer.record_ms(10.0);
        timer.record_ms(20.0);
        let mut metrics = BTreeMap::new();
        timer.export("allocator/mesos/allocation_run_ms", &mut metrics);
        let text = render_prometheus(&metrics, &TABLES);
        let family = "mesos_allocator_mesos_allocation_run_seconds";
        assert!(text.contains(&format!("# TYPE {family} summary\n")));
        assert!(text.contains(&format!("{family}{{quantile=\"0.5\"}} 0.015\n")));
        assert!(text.contains(&format!("{family}_count 2\n")));
        assert!(text.contains(&format!("{family}_last 0.02\n")));
        assert!(text.contains(&format!("{family}_max 0.02\n")));
        assert!(!text.contains("_p50"));
    }

    #[test]
    fn colliding_names_appear_once() {
        let mut metrics = BTreeMap::new();
        metrics.insert("a/b".to_string(), 1.0);
        metrics.insert("a_b".to_string(), 2.0);
        metrics.insert("x".to_string(), f64::NAN);
        let text = render_prometheus(&metrics, &TABLES);
        assert_eq!(text.matches("# TYPE mesos_a_b ").count(), 1);
        assert!(text.contains("mesos_x NaN\n"));
    }
}
