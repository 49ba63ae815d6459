//! Fault injection for outbound messages: drop, delay and partition rules
//! that tests switch on and off while processes run (upstream's
//! `process::Filter`, with delays and partitions added).
//!
//! Owns the rule table and the decision for one message. Never touches a
//! connection: the transport acts on the decision, so a delayed message
//! still keeps its place in its peer's queue (libprocess delivers the
//! messages to one peer in order, and a slow link must not reorder them).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::Upid;

/// What happens to one outbound message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterAction {
    Deliver,
    Drop,
    /// Written after this long; later messages to the same peer wait
    /// behind it.
    Delay(Duration),
}

/// Decides the fate of an outbound message: `filter(from, to, name)`.
pub type FaultFilter = Arc<dyn Fn(&Upid, &Upid, &str) -> FilterAction + Send + Sync>;

/// Which messages a rule applies to; `None` matches anything.
#[derive(Debug, Clone, Default)]
struct Selector {
    from: Option<SocketAddr>,
    to: Option<SocketAddr>,
    name: Option<String>,
}

impl Selector {
    fn matches(&self, from: &Upid, to: &Upid, name: &str) -> bool {
        self.from.is_none_or(|a| a == from.address())
            && self.to.is_none_or(|a| a == to.address())
            && self.name.as_deref().is_none_or(|n| n == name)
    }
}

#[derive(Debug, Clone)]
struct Rule {
    selector: Selector,
    action: FilterAction,
}

/// A programmable set of fault rules, shared by the tests that change it
/// and the transports that consult it. A matching drop rule wins (a
/// partition cuts a slow link too); otherwise the first matching delay
/// applies; no rule means deliver.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    rules: Arc<Mutex<Vec<Rule>>>,
}

impl Faults {
    pub fn new() -> Faults {
        Faults::default()
    }

    fn add(&self, selector: Selector, action: FilterAction) {
        if let Ok(mut rules) = self.rules.lock() {
            rules.push(Rule { selector, action });
        }
    }

    /// Drops every message called `name`.
    pub fn drop_messages(&self, name: &str) {
        self.add(
            Selector {
                name: Some(name.to_string()),
                ..Default::default()
            },
            FilterAction::Drop,
        );
    }

    /// Delays every message called `name` by `delay`.
    pub fn delay_messages(&self, name: &str, delay: Duration) {
        self.add(
            Selector {
                name: Some(name.to_string()),
                ..Default::default()
            },
            FilterAction::Delay(delay),
        );
    }

    /// Delays everything sent to `to` by `delay` (a slow link).
    pub fn delay_to(&self, to: SocketAddr, delay: Duration) {
        self.add(
            Selector {
                to: Some(to),
                ..Default::default()
            },
            FilterAction::Delay(delay),
        );
    }

    /// Drops everything between `a` and `b`, both ways.
    pub fn partition(&self, a: SocketAddr, b: SocketAddr) {
        for (from, to) in [(a, b), (b, a)] {
            self.add(
                Selector {
                    from: Some(from),
                    to: Some(to),
                    name: None,
                },
                FilterAction::Drop,
            );
        }
    }

    /// Removes every rule: the network is whole again.
    pub fn heal(&self) {
        if let Ok(mut rules) = self.rules.lock() {
            rules.clear();
        }
    }

    /// The decision for one message.
    pub fn decide(&self, from: &Upid, to: &Upid, name: &str) -> FilterAction {
        let Ok(rules) = self.rules.lock() else {
            return FilterAction::Deliver;
        };
        let mut decision = FilterAction::Deliver;
        for rule in rules.iter().filter(|r| r.selector.matches(from, to, name)) {
            match rule.action {
                FilterAction::Drop => return FilterAction::Drop,
                FilterAction::Delay(_) if decision == FilterAction::Deliver => {
                    decision = rule.action;
                }
                _ => {}
            }
        }
        decision
    }

    /// These rules as a transport filter.
    pub fn filter(&self) -> FaultFilter {
        let faults = self.clone();
        Arc::new(move |from, to, name| faults.decide(from, to, name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn upid(id: &str, port: u16) -> Upid {
        Upid::new(id, IpAddr::V4(Ipv4Addr::LOCALHOST), port)
    }

    #[test]
    fn first_matching_rule_decides_and_heal_clears() {
        let faults = Faults::new();
        let (a, b, c) = (upid("master", 1), upid("slave(1)", 2), upid("s", 3));
        assert_eq!(faults.decide(&a, &b, "x"), FilterAction::Deliver);
        faults.delay_messages("x", Duration::from_secs(1));
        faults.partition(a.address(), b.address());
        assert_eq!(faults.decide(&a, &b, "x"), FilterAction::Drop);
        assert_eq!(faults.decide(&b, &a, "y"), FilterAction::Drop);
        assert_eq!(
            faults.decide(&a, &c, "x"),
            FilterAction::Delay(Duration::from_secs(1))
        );
        assert_eq!(faults.decide(&a, &c, "y"), FilterAction::Deliver);
        faults.heal();
        assert_eq!(faults.decide(&a, &b, "x"), FilterAction::Deliver);
    }
}
