//! Who may send the agent what. Without authentication anyone can POST a
//! libprocess message claiming any sender, so the agent acts on:
//! - a message only the master sends, only from the master it detected
//!   (its exact pid: id, IP and port) and, except for the replies to its
//!   registration, only once registered with that master;
//! - a ping, only from a process of that master once one is detected (its
//!   observer has another id at the master's address);
//! - an acknowledgement or a framework message, only from that master or
//!   from the framework's own scheduler pid;
//! - an executor's message, only from that executor's registered pid, for
//!   its own tasks; a v1 executor call, only on a live subscription and,
//!   when executors authenticate, only with a token naming that executor.
//!
//! Owns these checks and the rate-limited log of refusals (one line per
//! sender per minute, with a count). Never acts on a message itself.

use libprocess::Upid;
use mesos_proto::mesos::v1::executor::call;

use super::executor_token::verify_executor_claims;
use super::state::{Connection, ExecutorState};
use super::{Agent, AgentState, ExecutorPrincipal};

/// Who may send a message, by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sender {
    /// The detected master; `registered`: and only once registered with it.
    Master { registered: bool },
    /// Any process at the detected master's address (its observers).
    MasterProcess,
    /// Checked once decoded (framework pids, executor pids), or anyone.
    Other,
}

/// The sender a message must come from.
pub(crate) fn expected_sender(name: &str) -> Sender {
    match name {
        // Replies to registration, and the master's answer to a
        // registration attempt of a removed agent.
        "mesos.internal.SlaveRegisteredMessage"
        | "mesos.internal.SlaveReregisteredMessage"
        | "mesos.internal.ShutdownMessage" => Sender::Master { registered: false },
        "mesos.internal.RunTaskMessage"
        | "mesos.internal.RunTaskGroupMessage"
        | "mesos.internal.KillTaskMessage"
        | "mesos.internal.ShutdownExecutorMessage"
        | "mesos.internal.ShutdownFrameworkMessage"
        | "mesos.internal.UpdateFrameworkMessage"
        | "mesos.internal.CheckpointResourcesMessage"
        | "mesos.internal.ApplyOperationMessage"
        | "mesos.internal.ReconcileOperationsMessage"
        | "mesos.internal.AcknowledgeOperationStatusMessage"
        | "mesos.internal.DrainSlaveMessage" => Sender::Master { registered: true },
        "mesos.internal.PingSlaveMessage" => Sender::MasterProcess,
        _ => Sender::Other,
    }
}

impl Agent {
    /// Whether `from` is exactly the detected master.
    pub(crate) fn is_master(&self, from: &Upid) -> bool {
        self.master.as_ref() == Some(from)
    }

    /// Whether the agent is registered with the detected master.
    fn registered_with_master(&self) -> bool {
        self.master.is_some() && self.state != AgentState::Disconnected
    }

    /// Logs (rate-limited) that `what` from `from` was refused.
    pub(crate) fn refuse(&mut self, from: &Upid, what: &str, why: &str) {
        self.refusals.refuse(&from.to_string(), what, why);
    }

    /// Whether message `name` may be acted on, coming from `from`, as far as
    /// its name tells; refusals are logged.
    pub(crate) fn trusts(&mut self, from: &Upid, name: &str) -> bool {
        let why = match expected_sender(name) {
            Sender::Other => return true,
            Sender::Master { registered } => {
                if !self.is_master(from) {
                    match &self.master {
                        Some(master) => format!("not the detected master {master}"),
                        None => "no master is detected".to_string(),
                    }
                } else if registered && !self.registered_with_master() {
                    "the agent has not registered with this master yet".to_string()
                } else {
                    return true;
                }
            }
            // Before a master is detected a ping can change nothing (it
            // is answered, as upstream answers every ping).
            Sender::MasterProcess => match &self.master {
                Some(master) if master.ip != from.ip || master.port != from.port => {
                    format!("not a process of the detected master {master}")
                }
                _ => return true,
            },
        };
        self.refuse(from, name, &why);
        false
    }

    /// Whether `from` may speak for framework `framework_id` as its
    /// scheduler or the master does (acknowledgements, framework messages).
    pub(crate) fn trusts_for_framework(
        &mut self,
        from: &Upid,
        name: &str,
        framework_id: &str,
    ) -> bool {
        if self.is_master(from) {
            return true;
        }
        let scheduler = self
            .frameworks
            .get(framework_id)
            .and_then(|f| f.pid.as_ref());
        if scheduler == Some(from) {
            return true;
        }
        let why =
            format!("neither the detected master nor the scheduler of framework {framework_id}");
        self.refuse(from, name, &why);
        false
    }

    /// Whether `from` is the registered pid of executor `executor_id` and,
    /// for a status update, that executor runs `task_id` (or the task is
    /// unknown here).
    pub(crate) fn trusts_executor(
        &mut self,
        from: &Upid,
        name: &str,
        framework_id: &str,
        executor_id: Option<&str>,
        task_id: Option<&str>,
    ) -> bool {
        let framework = self.frameworks.get(framework_id);
        let runner = task_id.and_then(|t| framework.and_then(|f| f.executor_id_for_task(t)));
        let why = match (executor_id, runner.as_ref().map(|r| r.as_str())) {
            (Some(claimed), Some(runner)) if claimed != runner => Some(format!(
                "executor '{claimed}' speaks for a task of executor '{runner}'"
            )),
            (None, None) => Some("the message names no executor".to_string()),
            (claimed, runner) => {
                let executor_id = claimed.or(runner).unwrap_or_default();
                let pid = framework
                    .and_then(|f| f.executors.get(executor_id))
                    .and_then(|e| match &e.live.connection {
                        Some(Connection::Pid(pid)) if e.state() != ExecutorState::Terminated => {
                            Some(pid)
                        }
                        _ => None,
                    });
                match pid {
                    Some(pid) if pid == from => None,
                    Some(pid) => Some(format!(
                        "executor '{executor_id}' of framework {framework_id} is registered at {pid}"
                    )),
                    None => Some(format!(
                        "executor '{executor_id}' of framework {framework_id} is not registered \
                         through a libprocess pid"
                    )),
                }
            }
        };
        match why {
            None => true,
            Some(why) => {
                self.refuse(from, name, &why);
                false
            }
        }
    }

    /// Whether a v1 executor call may be acted on. With an authenticated
    /// `principal` (`--authenticate_http_executors`), only when its claims
    /// name this framework, this executor and the executor's current
    /// container (upstream's `verifyExecutorClaims`). An UPDATE or MESSAGE,
    /// beyond that, only over a live subscription of that executor and, for
    /// an update, for one of its own tasks. `Err` carries the reason for a
    /// 403.
    pub(crate) fn executor_call_allowed(
        &mut self,
        framework_id: &str,
        executor_id: &str,
        principal: Option<&ExecutorPrincipal>,
        task_id: Option<&str>,
        kind: call::Type,
    ) -> Result<(), String> {
        let Some(framework) = self.frameworks.get(framework_id) else {
            return Ok(()); // the caller answers 400 for unknown ids
        };
        let Some(executor) = framework.executors.get(executor_id) else {
            return Ok(());
        };
        let why = if let Some(Err(why)) = principal.map(|p| {
            verify_executor_claims(
                p,
                framework_id,
                executor_id,
                executor.durable.container_id.as_str(),
            )
        }) {
            why
        } else if !matches!(kind, call::Type::Update | call::Type::Message) {
            return Ok(());
        } else if !matches!(executor.live.connection, Some(Connection::Http { .. })) {
            "Executor is not subscribed".to_string()
        } else {
            match task_id.and_then(|t| framework.executor_id_for_task(t)) {
                Some(runner) if runner.as_str() != executor_id => format!(
                    "Task {} belongs to executor '{runner}', not '{executor_id}'",
                    task_id.unwrap_or_default()
                ),
                _ => return Ok(()),
            }
        };
        let caller = format!("executor '{executor_id}' of framework {framework_id}");
        self.refusals.refuse(
            &caller,
            &format!("executor call {}", kind.as_str_name()),
            &why,
        );
        Err(why)
    }
}
