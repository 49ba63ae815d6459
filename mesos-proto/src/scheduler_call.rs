//! The structural rules of a v1 scheduler `Call` (upstream's
//! `validation::scheduler::call::validate` without the principal check):
//! the type, the framework id and the message each type needs. One copy,
//! used by the master on every call it receives and by the drivers before
//! they send one.
//!
//! Pure functions; they know nothing of any master's or driver's state.

use crate::mesos::v1::scheduler::call::Type as CallType;
use crate::mesos::v1::scheduler::Call;

/// The call type if it is one we know (proto2 drops unknown enum values, so
/// an unknown number counts as absent, as upstream sees it).
pub fn call_type(call: &Call) -> Option<CallType> {
    call.r#type.and_then(|t| CallType::try_from(t).ok())
}

/// The call's structure; the first rule it breaks, in upstream's words.
pub fn validate_call(call: &Call) -> Result<(), String> {
    let Some(kind) = call_type(call) else {
        return Err("Expecting 'type' to be present".to_string());
    };
    let framework_id = call
        .framework_id
        .as_ref()
        .map(|id| id.value.as_str())
        .unwrap_or("");
    if kind == CallType::Subscribe {
        let Some(subscribe) = &call.subscribe else {
            return Err("Expecting 'subscribe' to be present".to_string());
        };
        let info_id = subscribe
            .framework_info
            .id
            .as_ref()
            .map(|id| id.value.as_str())
            .unwrap_or("");
        if info_id != framework_id {
            return Err("'framework_id' differs from 'subscribe.framework_info.id'".to_string());
        }
        return Ok(());
    }
    if call.framework_id.is_none() {
        return Err("Expecting 'framework_id' to be present".to_string());
    }
    let missing = |name: &str| Err(format!("Expecting '{name}' to be present"));
    match kind {
        CallType::Subscribe | CallType::Teardown | CallType::Revive | CallType::Suppress => Ok(()),
        CallType::Unknown => Ok(()),
        CallType::Accept if call.accept.is_none() => missing("accept"),
        CallType::Decline if call.decline.is_none() => missing("decline"),
        CallType::AcceptInverseOffers if call.accept_inverse_offers.is_none() => {
            missing("accept_inverse_offers")
        }
        CallType::DeclineInverseOffers if call.decline_inverse_offers.is_none() => {
            missing("decline_inverse_offers")
        }
        CallType::Kill if call.kill.is_none() => missing("kill"),
        CallType::Shutdown if call.shutdown.is_none() => missing("shutdown"),
        CallType::Acknowledge => match &call.acknowledge {
            None => missing("acknowledge"),
            Some(ack) => validate_uuid(&ack.uuid),
        },
        CallType::AcknowledgeOperationStatus => match &call.acknowledge_operation_status {
            None => missing("acknowledge_operation_status"),
            Some(ack) => {
                validate_uuid(&ack.uuid)?;
                if ack.agent_id.is_none() {
                    return missing("agent_id");
                }
                Ok(())
            }
        },
        CallType::Reconcile if call.reconcile.is_none() => missing("reconcile"),
        CallType::ReconcileOperations if call.reconcile_operations.is_none() => {
            missing("reconcile_operations")
        }
        CallType::Message if call.message.is_none() => missing("message"),
        CallType::Request if call.request.is_none() => missing("request"),
        CallType::UpdateFramework => match &call.update_framework {
            None => missing("update_framework"),
            Some(update) => {
                let info_id = update
                    .framework_info
                    .id
                    .as_ref()
                    .map(|id| id.value.as_str())
                    .unwrap_or("");
                if info_id != framework_id {
                    return Err(
                        "'framework_id' differs from 'update_framework.framework_info.id'"
                            .to_string(),
                    );
                }
                Ok(())
            }
        },
        _ => Ok(()),
    }
}

/// stout's `UUID::fromBytes`: exactly 16 bytes.
pub fn validate_uuid(bytes: &[u8]) -> Result<(), String> {
    if bytes.len() != 16 {
        return Err(format!(
            "Not a valid UUID: expected 16 bytes, got {}",
            bytes.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::mesos::v1::scheduler::call;
    use crate::mesos::v1::FrameworkId;

    fn with_id(kind: CallType) -> Call {
        Call {
            r#type: Some(kind as i32),
            framework_id: Some(FrameworkId { value: "f".into() }),
            ..Default::default()
        }
    }

    #[test]
    fn each_rule_is_checked_in_upstreams_words() {
        assert_eq!(
            validate_call(&Call::default()).unwrap_err(),
            "Expecting 'type' to be present"
        );
        let mut no_id = with_id(CallType::Decline);
        no_id.framework_id = None;
        assert_eq!(
            validate_call(&no_id).unwrap_err(),
            "Expecting 'framework_id' to be present"
        );
        assert_eq!(
            validate_call(&with_id(CallType::Decline)).unwrap_err(),
            "Expecting 'decline' to be present"
        );
        let mut ack = with_id(CallType::Acknowledge);
        ack.acknowledge = Some(call::Acknowledge {
            uuid: vec![0; 3],
            ..Default::default()
        });
        assert_eq!(
            validate_call(&ack).unwrap_err(),
            "Not a valid UUID: expected 16 bytes, got 3"
        );
        let mut subscribe = with_id(CallType::Subscribe);
        subscribe.subscribe = Some(call::Subscribe::default());
        assert_eq!(
            validate_call(&subscribe).unwrap_err(),
            "'framework_id' differs from 'subscribe.framework_info.id'"
        );
        assert!(validate_call(&with_id(CallType::Revive)).is_ok());
    }
}
