//! Typed views of the actor's state for the v1 Operator API (upstream
//! `slave/http.cpp`: `_getFrameworks`, `_getExecutors`, `_getTasks`,
//! `getAgent`): v1 protobuf messages, built from the agent's v0 records
//! (wire twins) with `convert::evolve`. Encoding them is the HTTP layer's
//! business; this module only reads state.

use mesos_proto::convert::evolve;
use mesos_proto::mesos::v1;
use mesos_proto::mesos::v1::agent::response;
use mesos_proto::mesos::TaskState;

use super::state::{create_task, Framework};
use super::Agent;

impl Agent {
    /// Every framework, active ones before completed ones.
    fn all_frameworks(&self) -> impl Iterator<Item = &Framework> {
        self.frameworks
            .values()
            .chain(self.completed_frameworks.iter())
    }

    pub(crate) fn v1_frameworks(&self) -> response::GetFrameworks {
        let model = |f: &Framework| response::get_frameworks::Framework {
            framework_info: evolve(&f.info),
        };
        response::GetFrameworks {
            frameworks: self.frameworks.values().map(model).collect(),
            completed_frameworks: self.completed_frameworks.iter().map(model).collect(),
        }
    }

    /// Live executors of every framework; completed ones of every framework.
    pub(crate) fn v1_executors(&self) -> response::GetExecutors {
        let mut out = response::GetExecutors::default();
        for f in self.all_frameworks() {
            for e in f.executors.values() {
                out.executors.push(response::get_executors::Executor {
                    executor_info: evolve(&e.durable.info),
                });
            }
            for e in &f.completed_executors {
                out.completed_executors
                    .push(response::get_executors::Executor {
                        executor_info: evolve(&e.durable.info),
                    });
            }
        }
        out
    }

    /// Queued tasks (as TASK_STAGING), launched, terminated and completed
    /// tasks of live executors; terminated and completed tasks of completed
    /// executors. This agent keeps no pending (unlaunched, unqueued) tasks.
    pub(crate) fn v1_tasks(&self) -> response::GetTasks {
        let mut out = response::GetTasks::default();
        let v1_task = |t: &mesos_proto::mesos::Task| evolve::<_, v1::Task>(t);
        for f in self.all_frameworks() {
            for e in f.executors.values() {
                for t in &e.live.queued_tasks {
                    out.queued_tasks.push(v1_task(&create_task(
                        t,
                        TaskState::TaskStaging,
                        &f.info,
                    )));
                }
                let record = &e.durable;
                out.launched_tasks
                    .extend(record.launched_tasks.values().map(v1_task));
                out.terminated_tasks
                    .extend(record.terminated_tasks.values().map(v1_task));
                out.completed_tasks
                    .extend(record.completed_tasks.iter().map(v1_task));
            }
            for e in &f.completed_executors {
                let record = &e.durable;
                out.terminated_tasks
                    .extend(record.terminated_tasks.values().map(v1_task));
                out.completed_tasks
                    .extend(record.completed_tasks.iter().map(v1_task));
            }
        }
        out
    }

    pub(crate) fn v1_state(&self) -> response::GetState {
        response::GetState {
            get_tasks: Some(self.v1_tasks()),
            get_executors: Some(self.v1_executors()),
            get_frameworks: Some(self.v1_frameworks()),
        }
    }

    /// `GET_AGENT`: the agent's info and, while draining, the drain
    /// config and when draining started (whole seconds, as upstream).
    pub(crate) fn v1_agent(&self) -> response::GetAgent {
        response::GetAgent {
            agent_info: Some(evolve(&self.info)),
            drain_config: self.drain_config.as_ref().map(evolve),
            estimated_drain_start_time: self.drain_config.and(self.drain_started).map(|secs| {
                mesos_proto::mesos::v1::TimeInfo {
                    nanoseconds: (secs.trunc() * 1e9) as i64,
                }
            }),
        }
    }
}
