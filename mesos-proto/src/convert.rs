//! v0 ⇄ v1 conversion between twin messages (`src/internal/evolve.cpp`,
//! `src/internal/devolve.cpp`).
//!
//! The v0 (`mesos.*`) and v1 (`mesos.v1.*`) protos are wire-identical: same
//! tags, same wire types; v1 only renames `slave` to `agent`. So, like
//! upstream, a twin is converted by encoding it and decoding the bytes as the
//! other type ([`evolve`], [`devolve`]). The one exception is
//! `scheduler.Call.Subscribe`, whose tags differ (v0: `framework_info=1`,
//! `force=2`, `suppressed_roles=3`, `offer_constraints=4`; v1:
//! `framework_info=1`, `suppressed_roles=2`, `offer_constraints=3`):
//! [`evolve_scheduler_call`] and [`devolve_scheduler_call`] move those fields
//! by hand. Never push a scheduler `Call` through the generic functions.
//! Likewise operator `Call.DrainAgent.max_grace_period` is a
//! `google.protobuf.Duration` in v1 and a `DurationInfo` in v0 (same tag,
//! different meaning): use [`devolve_master_call`] / [`evolve_master_call`].
//!
//! Besides the twins, this module holds the few conversions the checklist
//! names that change content: [`evolve_status_update`] (the `UPDATE` event
//! built from a `StatusUpdateMessage`, with its uuid rule) and
//! [`devolve_agent_info`] (v0 `SlaveInfo.checkpoint` is always true).
//!
//! This module must never guess at non-twin pairs: re-encoding between
//! unrelated messages "works" in prost whenever the wire types happen to
//! line up, silently producing garbage. A test below walks the descriptor set
//! and checks that every v1 message and its v0 twin agree on every shared
//! tag, except the known `Subscribe` case.

use prost::Message;

use crate::mesos;
use crate::mesos::v1;

/// A re-encoding failed: the two types are not twins.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Failed to convert {from} to {to}: {reason}")]
pub struct ConvertError {
    /// The source message type (Rust type name).
    pub from: &'static str,
    /// The target message type (Rust type name).
    pub to: &'static str,
    /// prost's decode error.
    pub reason: String,
}

/// Re-encodes `from` as `To`. Required fields need not be set (prost decodes
/// proto2 messages "partially", like upstream's `ParsePartialFromString`);
/// fields the target does not know are dropped.
pub fn try_convert<From: Message, To: Message + Default>(from: &From) -> Result<To, ConvertError> {
    To::decode(from.encode_to_vec().as_slice()).map_err(|e| ConvertError {
        from: std::any::type_name::<From>(),
        to: std::any::type_name::<To>(),
        reason: e.to_string(),
    })
}

/// v0 → v1 for a twin pair (e.g. `mesos::TaskStatus` → `v1::TaskStatus`).
///
/// Twins always decode (see the module test), so this cannot fail for them.
/// Called on a pair that is not a twin and whose bytes do not decode, it
/// returns `V1::default()` rather than panicking; use [`try_convert`] when
/// the pair is not known to be twins.
pub fn evolve<V0: Message, V1: Message + Default>(v0: &V0) -> V1 {
    try_convert(v0).unwrap_or_default()
}

/// v1 → v0 for a twin pair (e.g. `v1::AgentId` → `mesos::SlaveId`). Same
/// contract as [`evolve`].
pub fn devolve<V1: Message, V0: Message + Default>(v1: &V1) -> V0 {
    try_convert(v1).unwrap_or_default()
}

/// v0 scheduler `Call` → v1, moving the `Subscribe` fields whose tags differ.
/// v0 `Subscribe.force` has no v1 counterpart and is dropped.
pub fn evolve_scheduler_call(call: &mesos::scheduler::Call) -> v1::scheduler::Call {
    let mut rest = call.clone();
    let subscribe = rest.subscribe.take();
    let mut result: v1::scheduler::Call = evolve(&rest);
    result.subscribe = subscribe.map(|s| v1::scheduler::call::Subscribe {
        framework_info: evolve(&s.framework_info),
        suppressed_roles: s.suppressed_roles,
        offer_constraints: s.offer_constraints.as_ref().map(evolve),
    });
    result
}

/// v1 scheduler `Call` → v0 (what the master does with every HTTP call),
/// moving the `Subscribe` fields whose tags differ. v0 `force` stays unset.
pub fn devolve_scheduler_call(call: &v1::scheduler::Call) -> mesos::scheduler::Call {
    let mut rest = call.clone();
    let subscribe = rest.subscribe.take();
    let mut result: mesos::scheduler::Call = devolve(&rest);
    result.subscribe = subscribe.map(|s| mesos::scheduler::call::Subscribe {
        framework_info: devolve(&s.framework_info),
        force: None,
        suppressed_roles: s.suppressed_roles,
        offer_constraints: s.offer_constraints.as_ref().map(devolve),
    });
    result
}

/// v1 operator `Call` → v0. `DrainAgent.max_grace_period` is a
/// `google.protobuf.Duration` in v1 but a `DurationInfo` (nanoseconds) in v0:
/// the tags agree but the meaning does not, so it is converted by value
/// (upstream `devolve(const v1::master::Call&)`). Out-of-range durations
/// saturate instead of overflowing.
pub fn devolve_master_call(call: &v1::master::Call) -> mesos::master::Call {
    let mut rest = call.clone();
    let grace = rest
        .drain_agent
        .as_mut()
        .and_then(|d| d.max_grace_period.take());
    let mut result: mesos::master::Call = devolve(&rest);
    if let (Some(drain), Some(grace)) = (result.drain_agent.as_mut(), grace) {
        drain.max_grace_period = Some(mesos::DurationInfo {
            nanoseconds: grace
                .seconds
                .saturating_mul(1_000_000_000)
                .saturating_add(i64::from(grace.nanos)),
        });
    }
    result
}

/// v0 operator `Call` → v1, the inverse of [`devolve_master_call`]
/// (`DurationInfo` nanoseconds → `Duration{seconds, nanos}`).
pub fn evolve_master_call(call: &mesos::master::Call) -> v1::master::Call {
    let mut rest = call.clone();
    let grace = rest
        .drain_agent
        .as_mut()
        .and_then(|d| d.max_grace_period.take());
    let mut result: v1::master::Call = evolve(&rest);
    if let (Some(drain), Some(grace)) = (result.drain_agent.as_mut(), grace) {
        let nanos = grace.nanoseconds;
        drain.max_grace_period = Some(prost_types::Duration {
            seconds: nanos / 1_000_000_000,
            // |nanos % 1e9| < 1e9, so it fits an i32.
            nanos: i32::try_from(nanos % 1_000_000_000).unwrap_or_default(),
        });
    }
    result
}

/// The v1 `UPDATE` event for a v0 `StatusUpdateMessage`
/// (`evolve(const StatusUpdateMessage&)`):
/// - `status` gets the update's `agent_id` and `executor_id` (when set) and
///   its `timestamp`;
/// - `status.uuid` is the update's uuid only if the update needs an
///   acknowledgement: it is cleared when the update has no (or an empty) uuid
///   or when the message's `pid` is empty, which is how master-generated
///   updates (reconciliation, validation errors, agent removal) look.
///
/// Upstream parses `pid` as a UPID and clears the uuid when that yields the
/// empty UPID; here any `pid` that does not look like `id@host:port` counts as
/// empty.
pub fn evolve_status_update(
    message: &mesos::internal::StatusUpdateMessage,
) -> v1::scheduler::Event {
    let update = &message.update;
    let mut status: v1::TaskStatus = evolve(&update.status);
    if let Some(slave_id) = &update.slave_id {
        status.agent_id = Some(v1::AgentId {
            value: slave_id.value.clone(),
        });
    }
    if let Some(executor_id) = &update.executor_id {
        status.executor_id = Some(v1::ExecutorId {
            value: executor_id.value.clone(),
        });
    }
    status.timestamp = Some(update.timestamp);
    status.uuid = match &update.uuid {
        Some(uuid) if !uuid.is_empty() && pid_is_set(message.pid.as_deref()) => Some(uuid.clone()),
        _ => None,
    };
    v1::scheduler::Event {
        r#type: Some(v1::scheduler::event::Type::Update as i32),
        update: Some(v1::scheduler::event::Update { status }),
        ..Default::default()
    }
}

/// Whether a UPID string names a process (`id@host:port`, all non-empty).
fn pid_is_set(pid: Option<&str>) -> bool {
    let Some(pid) = pid else { return false };
    let Some((id, address)) = pid.split_once('@') else {
        return false;
    };
    let Some((host, port)) = address.rsplit_once(':') else {
        return false;
    };
    !id.is_empty() && !host.is_empty() && port.parse::<u16>().is_ok()
}

/// v1 `AgentInfo` → v0 `SlaveInfo`. v1 has no `checkpoint` field; every agent
/// has checkpointed since v1 existed, so upstream sets it to true (MESOS-2317).
pub fn devolve_agent_info(info: &v1::AgentInfo) -> mesos::SlaveInfo {
    let mut result: mesos::SlaveInfo = devolve(info);
    result.checkpoint = Some(true);
    result
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn framework_info() -> v1::FrameworkInfo {
        v1::FrameworkInfo {
            user: "root".into(),
            name: "spark".into(),
            roles: vec!["analytics".into(), "etl".into()],
            ..Default::default()
        }
    }

    fn v1_subscribe_call() -> v1::scheduler::Call {
        v1::scheduler::Call {
            r#type: Some(v1::scheduler::call::Type::Subscribe as i32),
            subscribe: Some(v1::scheduler::call::Subscribe {
                framework_info: framework_info(),
                suppressed_roles: vec!["etl".into()],
                offer_constraints: Some(v1::scheduler::OfferConstraints::default()),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn subscribe_survives_devolve_and_evolve() {
        let call = v1_subscribe_call();
        let v0 = devolve_scheduler_call(&call);
        let subscribe = v0.subscribe.as_ref().unwrap();
        assert_eq!(subscribe.suppressed_roles, vec!["etl".to_string()]);
        assert_eq!(subscribe.force, None);
        assert!(subscribe.offer_constraints.is_some());
        assert_eq!(subscribe.framework_info.name, "spark");
        assert_eq!(subscribe.framework_info.roles, vec!["analytics", "etl"]);
        assert_eq!(
            v0.r#type,
            Some(mesos::scheduler::call::Type::Subscribe as i32)
        );

        // The v0 bytes put suppressed_roles at tag 3.
        let back = evolve_scheduler_call(&v0);
        assert_eq!(back, call);
    }

    #[test]
    fn naive_reencoding_of_subscribe_is_wrong() {
        // What the hand-written conversion protects against: the v1 tags
        // read as v0 would put suppressed_roles (tag 2, a string) into `force`
        // (a bool) — prost refuses the wire type — and offer_constraints
        // (tag 3) into suppressed_roles.
        let call = v1_subscribe_call();
        assert!(try_convert::<_, mesos::scheduler::Call>(&call).is_err());

        let mut only_constraints = call.clone();
        if let Some(s) = only_constraints.subscribe.as_mut() {
            s.suppressed_roles.clear();
            s.offer_constraints = Some(v1::scheduler::OfferConstraints::default());
        }
        let naive: mesos::scheduler::Call = try_convert(&only_constraints).unwrap();
        let naive = naive.subscribe.unwrap();
        assert!(naive.offer_constraints.is_none());
        assert_eq!(naive.suppressed_roles, vec![String::new()]);

        // And the v0 `force` flag read as v1 is a varint at a string tag.
        let v0 = mesos::scheduler::Call {
            r#type: Some(mesos::scheduler::call::Type::Subscribe as i32),
            subscribe: Some(mesos::scheduler::call::Subscribe {
                framework_info: devolve(&framework_info()),
                force: Some(true),
                suppressed_roles: vec!["etl".into()],
                offer_constraints: None,
            }),
            ..Default::default()
        };
        assert!(try_convert::<_, v1::scheduler::Call>(&v0).is_err());
        let evolved = evolve_scheduler_call(&v0);
        assert_eq!(evolved.subscribe.unwrap().suppressed_roles, vec!["etl"]);
    }

    #[test]
    fn other_calls_convert_by_reencoding() {
        let call = v1::scheduler::Call {
            framework_id: Some(v1::FrameworkId {
                value: "fw-1".into(),
            }),
            r#type: Some(v1::scheduler::call::Type::Kill as i32),
            kill: Some(v1::scheduler::call::Kill {
                task_id: v1::TaskId { value: "t1".into() },
                agent_id: Some(v1::AgentId { value: "a1".into() }),
                kill_policy: None,
            }),
            ..Default::default()
        };
        let v0 = devolve_scheduler_call(&call);
        let kill = v0.kill.as_ref().unwrap();
        assert_eq!(kill.slave_id.as_ref().unwrap().value, "a1");
        assert_eq!(v0.subscribe, None);
        assert_eq!(evolve_scheduler_call(&v0), call);
    }

    #[test]
    fn twins_round_trip() {
        let status = mesos::TaskStatus {
            task_id: mesos::TaskId { value: "t".into() },
            state: mesos::TaskState::TaskRunning as i32,
            slave_id: Some(mesos::SlaveId { value: "S1".into() }),
            uuid: Some(vec![1, 2, 3]),
            ..Default::default()
        };
        let v1_status: v1::TaskStatus = evolve(&status);
        assert_eq!(v1_status.agent_id.as_ref().unwrap().value, "S1");
        assert_eq!(v1_status.state, v1::TaskState::TaskRunning as i32);
        let back: mesos::TaskStatus = devolve(&v1_status);
        assert_eq!(back, status);
    }

    #[test]
    fn non_twins_do_not_panic() {
        // A string at tag 1 read as a message that has a varint at tag 1.
        let id = v1::TaskId { value: "x".into() };
        let r: Result<v1::value::Range, _> = try_convert(&id);
        let error = r.unwrap_err();
        assert!(error.to_string().contains("Failed to convert"), "{error}");
        let fallback: v1::value::Range = evolve(&id);
        assert_eq!(fallback, v1::value::Range::default());
    }

    fn status_update_message(
        uuid: Option<Vec<u8>>,
        pid: Option<&str>,
    ) -> mesos::internal::StatusUpdateMessage {
        mesos::internal::StatusUpdateMessage {
            update: mesos::internal::StatusUpdate {
                framework_id: mesos::FrameworkId { value: "fw".into() },
                executor_id: Some(mesos::ExecutorId { value: "ex".into() }),
                slave_id: Some(mesos::SlaveId { value: "S0".into() }),
                status: mesos::TaskStatus {
                    task_id: mesos::TaskId { value: "t".into() },
                    state: mesos::TaskState::TaskFinished as i32,
                    uuid: uuid.clone(),
                    ..Default::default()
                },
                timestamp: 1234.5,
                uuid,
                latest_state: None,
            },
            pid: pid.map(str::to_string),
        }
    }

    #[test]
    fn status_update_keeps_uuid_when_ack_is_needed() {
        let event = evolve_status_update(&status_update_message(
            Some(vec![7; 16]),
            Some("slave(1)@10.0.0.1:5051"),
        ));
        assert_eq!(
            event.r#type,
            Some(v1::scheduler::event::Type::Update as i32)
        );
        let status = event.update.unwrap().status;
        assert_eq!(status.uuid, Some(vec![7; 16]));
        assert_eq!(status.agent_id.unwrap().value, "S0");
        assert_eq!(status.executor_id.unwrap().value, "ex");
        assert_eq!(status.timestamp, Some(1234.5));
        assert_eq!(status.state, v1::TaskState::TaskFinished as i32);
    }

    #[test]
    fn status_update_clears_uuid_for_master_generated_updates() {
        for (uuid, pid) in [
            (None, Some("slave(1)@10.0.0.1:5051")),
            (Some(vec![]), Some("slave(1)@10.0.0.1:5051")),
            (Some(vec![7; 16]), None),
            (Some(vec![7; 16]), Some("")),
            (Some(vec![7; 16]), Some("garbage")),
        ] {
            let event = evolve_status_update(&status_update_message(uuid.clone(), pid));
            assert_eq!(event.update.unwrap().status.uuid, None, "{uuid:?} {pid:?}");
        }
    }

    #[test]
    fn agent_info_devolves_with_checkpoint() {
        let info = v1::AgentInfo {
            hostname: "h".into(),
            id: Some(v1::AgentId { value: "S1".into() }),
            ..Default::default()
        };
        let slave = devolve_agent_info(&info);
        assert_eq!(slave.checkpoint, Some(true));
        assert_eq!(slave.id.unwrap().value, "S1");
        assert_eq!(slave.hostname, "h");
    }

    #[test]
    fn drain_agent_grace_period_converts_by_value() {
        let call = v1::master::Call {
            r#type: Some(v1::master::call::Type::DrainAgent as i32),
            drain_agent: Some(v1::master::call::DrainAgent {
                agent_id: v1::AgentId { value: "S1".into() },
                max_grace_period: Some(prost_types::Duration {
                    seconds: 90,
                    nanos: 500,
                }),
                mark_gone: Some(true),
            }),
            ..Default::default()
        };
        let v0 = devolve_master_call(&call);
        let drain = v0.drain_agent.as_ref().unwrap();
        assert_eq!(drain.slave_id.value, "S1");
        assert_eq!(drain.mark_gone, Some(true));
        assert_eq!(
            drain.max_grace_period,
            Some(mesos::DurationInfo {
                nanoseconds: 90_000_000_500
            })
        );
        assert_eq!(evolve_master_call(&v0), call);

        // A naive re-encode would read 90 seconds as 90 nanoseconds.
        let naive: mesos::master::Call = devolve(&call);
        assert_eq!(
            naive
                .drain_agent
                .unwrap()
                .max_grace_period
                .unwrap()
                .nanoseconds,
            90
        );

        // Saturates rather than overflowing.
        let mut huge = call.clone();
        huge.drain_agent.as_mut().unwrap().max_grace_period = Some(prost_types::Duration {
            seconds: i64::MAX,
            nanos: 999_999_999,
        });
        let v0 = devolve_master_call(&huge);
        assert_eq!(
            v0.drain_agent
                .unwrap()
                .max_grace_period
                .unwrap()
                .nanoseconds,
            i64::MAX
        );

        // Calls without a drain_agent pass through.
        let get_state = v1::master::Call {
            r#type: Some(v1::master::call::Type::GetState as i32),
            ..Default::default()
        };
        assert_eq!(
            evolve_master_call(&devolve_master_call(&get_state)),
            get_state
        );
    }

    /// Every v1 message whose v0 twin exists must agree with it on the wire
    /// type of every tag both declare; the only known exception is
    /// `scheduler.Call.Subscribe`, which the scheduler-call functions handle.
    #[test]
    fn v0_and_v1_twins_agree_on_the_wire() {
        use prost_reflect::{DescriptorPool, Kind};

        // What decides whether prost can read one side's bytes as the other
        // side's field, and whether the result means the same thing.
        fn wire_class(kind: &Kind) -> String {
            match kind {
                // Messages must themselves be twins: compare by v0 name.
                Kind::Message(m) => format!(
                    "message {}",
                    m.full_name()
                        .replace("mesos.v1.", "mesos.")
                        .replace("Agent", "Slave")
                ),
                Kind::String | Kind::Bytes => "bytes".into(),
                Kind::Double | Kind::Fixed64 | Kind::Sfixed64 => "fixed64".into(),
                Kind::Float | Kind::Fixed32 | Kind::Sfixed32 => "fixed32".into(),
                _ => "varint".into(),
            }
        }

        let pool = DescriptorPool::decode(crate::FILE_DESCRIPTOR_SET).unwrap();
        let mut mismatches = Vec::new();
        let mut twins = 0;
        for v1_message in pool.all_messages() {
            let Some(rest) = v1_message.full_name().strip_prefix("mesos.v1.") else {
                continue;
            };
            let candidates = [
                format!("mesos.{rest}"),
                format!("mesos.{}", rest.replace("Agent", "Slave")),
            ];
            let Some(v0_message) = candidates.iter().find_map(|n| pool.get_message_by_name(n))
            else {
                continue;
            };
            twins += 1;
            for v1_field in v1_message.fields() {
                let Some(v0_field) = v0_message.get_field(v1_field.number()) else {
                    continue;
                };
                let a = (wire_class(&v1_field.kind()), v1_field.is_list());
                let b = (wire_class(&v0_field.kind()), v0_field.is_list());
                if a != b {
                    mismatches.push(format!("{}.{}", v1_message.full_name(), v1_field.name()));
                }
            }
        }
        assert!(twins > 300, "only {twins} twin pairs found");
        mismatches.sort();
        assert_eq!(
            mismatches,
            vec![
                "mesos.v1.master.Call.DrainAgent.max_grace_period",
                "mesos.v1.scheduler.Call.Subscribe.offer_constraints",
                "mesos.v1.scheduler.Call.Subscribe.suppressed_roles",
            ]
        );
    }
}
