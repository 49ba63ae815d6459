//! Operator requests that change reservations, volumes, quota, weights,
//! maintenance and agent draining: one typed enum, validated by the HTTP
//! layer before it gets here, so a single method connects every one of
//! them to the actor.
//!
//! Owns only the request and error types and the (currently refusing)
//! dispatch; it never applies an operation by itself.

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
    UpdateMaintenanceSchedule(Box<call::UpdateMaintenanceSchedule>),
    StartMaintenance(Box<call::StartMaintenance>),
    StopMaintenance(Box<call::StopMaintenance>),
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
            OperationRequest::UpdateMaintenanceSchedule(_) => "UPDATE_MAINTENANCE_SCHEDULE",
            OperationRequest::StartMaintenance(_) => "START_MAINTENANCE",
            OperationRequest::StopMaintenance(_) => "STOP_MAINTENANCE",
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
