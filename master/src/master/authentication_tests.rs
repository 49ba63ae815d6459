//! v0 authentication bound to a pid, in the actor: a fake agent proves a
//! principal with CRAM-MD5 against an in-process master with
//! `--authenticate_agents`. An authentication lasts until the pid starts
//! another one, disconnects, or its agent is removed.
//!
//! A refused registration is never answered, so each refusal is followed
//! by a registration that is: the master handles messages in order and
//! admits agents through the registry in order, so once the second agent
//! is registered the first attempt has been decided.

use mesos_authentication::authenticatee::ClientOutcome;
use mesos_proto::mesos as v0;
use mesos_proto::mesos::internal::{ReregisterSlaveMessage, UnregisterSlaveMessage};
use serde_json::Value;

use super::tests::{register, register_message, state};
use crate::testing::{start_master, FakeAgent};
use crate::Running;

async fn master_authenticating_agents() -> (Running, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("credentials");
    std::fs::write(&path, "a a-secret\n").expect("credentials");
    let master = start_master(&[
        "--authenticate_agents=true",
        &format!("--credentials={}", path.display()),
    ])
    .await;
    (master, dir)
}

/// Another agent that authenticates and registers: afterwards every
/// earlier registration attempt has been decided.
async fn register_witness(master: &Running) -> FakeAgent {
    let mut witness = FakeAgent::start_as("slave(2)").await;
    assert_eq!(
        witness.authenticate(&master.pid, "a", "a-secret").await,
        ClientOutcome::Authenticated
    );
    register(master, &mut witness).await;
    witness
}

/// The registered agents' pids and whether they are active.
async fn agents(master: &Running) -> Vec<(String, bool)> {
    state(master).await["slaves"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            (
                s["pid"].as_str().unwrap_or_default().to_string(),
                s["active"] == Value::Bool(true),
            )
        })
        .collect()
}

fn reregistration(agent: &FakeAgent, agent_id: &str) -> ReregisterSlaveMessage {
    let mut slave = register_message(agent).slave;
    slave.id = Some(v0::SlaveId {
        value: agent_id.to_string(),
    });
    ReregisterSlaveMessage {
        slave,
        version: Some("1.11.0".into()),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_new_authentication_replaces_the_previous_one() {
    let (master, _dir) = master_authenticating_agents().await;
    let agent = FakeAgent::start().await;
    assert_eq!(
        agent.authenticate(&master.pid, "a", "a-secret").await,
        ClientOutcome::Authenticated
    );
    // The second attempt fails: the first one no longer counts.
    assert_eq!(
        agent.authenticate(&master.pid, "a", "wrong").await,
        ClientOutcome::Refused
    );
    agent.send(&master.pid, &register_message(&agent));
    let witness = register_witness(&master).await;
    assert_eq!(agents(&master).await, vec![(witness.pid.to_string(), true)]);
}

#[tokio::test]
async fn an_agent_whose_link_broke_authenticates_again_before_reregistering() {
    let (master, _dir) = master_authenticating_agents().await;
    let mut agent = FakeAgent::start().await;
    assert_eq!(
        agent.authenticate(&master.pid, "a", "a-secret").await,
        ClientOutcome::Authenticated
    );
    let agent_id = register(&master, &mut agent).await;

    // The agent's process goes away: the master's link to it breaks.
    agent.server.abort();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while agents(&master).await != vec![(agent.pid.to_string(), false)] {
        assert!(tokio::time::Instant::now() < deadline, "agent still active");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Its pid re-registers without authenticating again: refused (an
    // accepted one would set `reregistered_time`; the agent would still
    // look inactive, its link being broken).
    agent.send(&master.pid, &reregistration(&agent, &agent_id));
    let witness = register_witness(&master).await;
    let slaves = state(&master).await["slaves"].clone();
    let old = slaves
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["pid"] == agent.pid.to_string().as_str())
        .cloned()
        .unwrap_or_else(|| panic!("agent gone: {slaves}"));
    assert_eq!(old["active"], false, "{old}");
    assert!(old.get("reregistered_time").is_none(), "{old}");
    assert_eq!(agents(&master).await.len(), 2);
    assert!(agents(&master)
        .await
        .contains(&(witness.pid.to_string(), true)));
}

#[tokio::test]
async fn a_removed_agent_authenticates_again_before_registering() {
    let (master, _dir) = master_authenticating_agents().await;
    let mut agent = FakeAgent::start().await;
    assert_eq!(
        agent.authenticate(&master.pid, "a", "a-secret").await,
        ClientOutcome::Authenticated
    );
    let agent_id = register(&master, &mut agent).await;
    agent.send(
        &master.pid,
        &UnregisterSlaveMessage {
            slave_id: v0::SlaveId { value: agent_id },
        },
    );
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !agents(&master).await.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "agent not removed");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    agent.send(&master.pid, &register_message(&agent));
    let witness = register_witness(&master).await;
    assert_eq!(agents(&master).await, vec![(witness.pid.to_string(), true)]);

    // Once it proves its principal again it registers.
    assert_eq!(
        agent.authenticate(&master.pid, "a", "a-secret").await,
        ClientOutcome::Authenticated
    );
    register(&master, &mut agent).await;
    assert_eq!(agents(&master).await.len(), 2);
}
