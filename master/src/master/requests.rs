//! Operator requests that change reservations, volumes, quota, weights
//! and agent draining (maintenance changes, asked per machine, go through
//! `MasterHandle::change_maintenance`): one typed enum, validated by the HTTP
//! layer before it gets here, so a single method connects every one of
//! them to the actor.
//!
//! Owns only the request and error types and the dispatch to the typed
//! handle methods; it never applies an operation by itself.

use mesos_proto::mesos::v1::master::call;

/// A validated operator request that changes cluster state (boxed: the
/// protos differ widely in size).
#[derive(Debug, Clone, PartialEq)]
pub enum OperationRequest {
    ReserveResources(Box<call::ReserveResources>),
    UnreserveResources(Box<call::UnreserveResources>),
    CreateVolumes(Box<call::CreateVolumes>),
    DestroyVolumes(Box<call::DestroyVolumes>),
    GrowVolume(Box<call::GrowVolume>),
    ShrinkVolume(Box<call::ShrinkVolume>),
    UpdateQuota(Box<call::UpdateQuota>),
    SetQuota(Box<call::SetQuota>),
    RemoveQuota(Box<call::RemoveQuota>),
    UpdateWeights(Box<call::UpdateWeights>),
    DrainAgent(Box<call::DrainAgent>),
    DeactivateAgent(Box<call::DeactivateAgent>),
    ReactivateAgent(Box<call::ReactivateAgent>),
}

impl OperationRequest {
    /// The call's name as upstream spells it.
    pub fn name(&self) -> &'static str {
        match self {
            OperationRequest::ReserveResources(_) => "RESERVE_RESOURCES",
            OperationRequest::UnreserveResources(_) => "UNRESERVE_RESOURCES",
            OperationRequest::CreateVolumes(_) => "CREATE_VOLUMES",
            OperationRequest::DestroyVolumes(_) => "DESTROY_VOLUMES",
            OperationRequest::GrowVolume(_) => "GROW_VOLUME",
            OperationRequest::ShrinkVolume(_) => "SHRINK_VOLUME",
            OperationRequest::UpdateQuota(_) => "UPDATE_QUOTA",
            OperationRequest::SetQuota(_) => "SET_QUOTA",
            OperationRequest::RemoveQuota(_) => "REMOVE_QUOTA",
            OperationRequest::UpdateWeights(_) => "UPDATE_WEIGHTS",
            OperationRequest::DrainAgent(_) => "DRAIN_AGENT",
            OperationRequest::DeactivateAgent(_) => "DEACTIVATE_AGENT",
            OperationRequest::ReactivateAgent(_) => "REACTIVATE_AGENT",
        }
    }
}

/// What applying an operator request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationOutcome {
    /// Applied before answering (upstream 200).
    Done,
    /// Accepted and applied asynchronously (upstream 202).
    Accepted,
}

/// Why an operator request was not applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OperationError {
    /// This master cannot apply the request yet.
    #[error("{0} is not supported by this master yet")]
    NotSupported(&'static str),
    #[error("{0}")]
    Invalid(String),
    /// The request conflicts with the current state (e.g. the agent lacks
    /// the resources even after rescinding offers).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    #[error("Master has not finished recovery")]
    NotRecovered,
    #[error("Master is shutting down")]
    ShuttingDown,
}

/// Why TEARDOWN failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TeardownError {
    #[error("No framework found with specified ID")]
    FrameworkNotFound,
    #[error("Master has not finished recovery")]
    NotRecovered,
    #[error("Master is shutting down")]
    ShuttingDown,
}

/// Applies `request` through the typed handle method that owns it:
/// reservations and volumes and quota and weights (`operations`, `quota`),
/// draining and deactivation (`drain`).
pub(super) async fn apply(
    master: &super::MasterHandle,
    request: OperationRequest,
) -> Result<OperationOutcome, OperationError> {
    use mesos_proto::convert::devolve;
    use mesos_proto::mesos as v0;

    fn agent(id: Option<&mesos_proto::mesos::v1::AgentId>) -> Result<&str, OperationError> {
        id.map(|id| id.value.as_str())
            .ok_or_else(|| OperationError::Invalid("Expecting 'agent_id' to be present".into()))
    }
    let accepted = |result: Result<(), super::quota::OperatorError>| {
        result
            .map(|()| OperationOutcome::Accepted)
            .map_err(OperationError::from)
    };
    let done = |result: Result<(), super::quota::OperatorError>| {
        result
            .map(|()| OperationOutcome::Done)
            .map_err(OperationError::from)
    };
    match request {
        OperationRequest::ReserveResources(call) => accepted(
            master
                .reserve_resources(&call.agent_id.value, call.resources, None)
                .await,
        ),
        OperationRequest::UnreserveResources(call) => accepted(
            master
                .unreserve_resources(&call.agent_id.value, call.resources, None)
                .await,
        ),
        OperationRequest::CreateVolumes(call) => accepted(
            master
                .create_volumes(&call.agent_id.value, call.volumes, None)
                .await,
        ),
        OperationRequest::DestroyVolumes(call) => accepted(
            master
                .destroy_volumes(&call.agent_id.value, call.volumes, None)
                .await,
        ),
        OperationRequest::GrowVolume(call) => {
            let agent_id = agent(call.agent_id.as_ref())?;
            accepted(
                master
                    .grow_volume(agent_id, call.volume, call.addition, None)
                    .await,
            )
        }
        OperationRequest::ShrinkVolume(call) => {
            let agent_id = agent(call.agent_id.as_ref())?;
            accepted(
                master
                    .shrink_volume(agent_id, call.volume, call.subtract.value, None)
                    .await,
            )
        }
        OperationRequest::UpdateQuota(call) => {
            let configs = call.quota_configs.iter().map(devolve).collect();
            done(
                master
                    .update_quota(configs, call.force.unwrap_or(false))
                    .await,
            )
        }
        OperationRequest::SetQuota(call) => {
            let request = call.quota_request;
            let role = request.role.clone().unwrap_or_default();
            let existing = master.get_quota().await?;
            if existing.iter().any(|c| c.role == role) {
                return Err(OperationError::Invalid(
                    "Failed to validate set quota request: Can not set quota for a role that \
                     already has quota"
                        .into(),
                ));
            }
            // The deprecated form sets the guarantee and the limit at once.
            let mut amounts = std::collections::HashMap::<String, v0::value::Scalar>::new();
            for resource in &request.guarantee {
                let Some(scalar) = &resource.scalar else {
                    return Err(OperationError::Invalid(format!(
                        "Failed to validate set quota request: quota resource '{}' must be a \
                         scalar",
                        resource.name
                    )));
                };
                let entry = amounts
                    .entry(resource.name.clone())
                    .or_insert(v0::value::Scalar { value: 0.0 });
                entry.value = mesos_proto::resources::scalar_add(entry.value, scalar.value);
            }
            if amounts.is_empty() {
                return Err(OperationError::Invalid(
                    "Failed to validate set quota request: the guarantee is empty".into(),
                ));
            }
            let config = v0::quota::QuotaConfig {
                role,
                guarantees: amounts.clone(),
                limits: amounts,
            };
            done(
                master
                    .update_quota(vec![config], request.force.unwrap_or(false))
                    .await,
            )
        }
        OperationRequest::RemoveQuota(call) => {
            let existing = master.get_quota().await?;
            if !existing.iter().any(|c| c.role == call.role) {
                return Err(OperationError::Invalid(format!(
                    "Failed to validate remove quota request for role '{}': No quota exists \
                     for this role",
                    call.role
                )));
            }
            let removal = v0::quota::QuotaConfig {
                role: call.role,
                ..Default::default()
            };
            done(master.update_quota(vec![removal], true).await)
        }
        OperationRequest::UpdateWeights(call) => {
            let weights = call.weight_infos.iter().map(devolve).collect();
            done(master.update_weights(weights).await)
        }
        OperationRequest::DrainAgent(call) => {
            let config = mesos_proto::mesos::DrainConfig {
                max_grace_period: call
                    .max_grace_period
                    .as_ref()
                    .map(|d| super::drain::grace_period(d.seconds, d.nanos)),
                mark_gone: Some(call.mark_gone.unwrap_or(false)),
            };
            drain(
                master
                    .drain(super::drain::DrainCommand::Drain {
                        agent_id: call.agent_id.value.into(),
                        config,
                    })
                    .await,
            )
        }
        OperationRequest::DeactivateAgent(call) => drain(
            master
                .drain(super::drain::DrainCommand::Deactivate {
                    agent_id: call.agent_id.value.into(),
                })
                .await,
        ),
        OperationRequest::ReactivateAgent(call) => drain(
            master
                .drain(super::drain::DrainCommand::Reactivate {
                    agent_id: call.agent_id.value.into(),
                })
                .await,
        ),
    }
}

fn drain(result: Result<(), OperationError>) -> Result<OperationOutcome, OperationError> {
    result.map(|()| OperationOutcome::Done)
}

impl From<super::quota::OperatorError> for OperationError {
    fn from(error: super::quota::OperatorError) -> Self {
        use super::quota::OperatorError as E;
        match error {
            E::Invalid(message) => OperationError::Invalid(message),
            E::Conflict(message) => OperationError::Conflict(message),
            E::NotRecovered => OperationError::NotRecovered,
            E::Stopped => OperationError::ShuttingDown,
        }
    }
}
