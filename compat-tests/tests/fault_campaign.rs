//! The short fault campaign (upstream's fault-tolerance scenarios, mixed at
//! random): `mesos-fault-campaign --faults 20` against ZooKeeper, three
//! masters, two agents and a recording pymesos scheduler. The binary judges
//! from the scheduler's own records; this test asserts its exit status and
//! its summary line: no terminal update lost, none unexpected.

use std::process::Command;

use compat_tests::venv_python;

fn summary_field(summary: &str, name: &str) -> Option<u64> {
    summary
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.parse().ok())
}

#[test]
fn fault_campaign_twenty_faults_loses_no_terminal_update() {
    // Fails loudly (not skipped) when pymesos is missing.
    let python = venv_python();
    let seed = std::env::var("MESOS_FAULT_CAMPAIGN_SEED").unwrap_or_else(|_| "20261201".into());
    let out = Command::new(env!("CARGO_BIN_EXE_mesos-fault-campaign"))
        .arg("--faults=20")
        .arg(format!("--seed={seed}"))
        .env(
            "MESOS_COMPAT_VENV",
            python.parent().and_then(|p| p.parent()).expect("venv dir"),
        )
        .output()
        .expect("run mesos-fault-campaign");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("faults="))
        .unwrap_or_else(|| panic!("no summary line\n{stdout}\n{stderr}"));
    assert_eq!(summary_field(summary, "faults"), Some(20), "{summary}");
    assert_eq!(
        summary_field(summary, "lost_terminal_updates"),
        Some(0),
        "{stdout}\n{stderr}"
    );
    assert_eq!(
        summary_field(summary, "unexpected_terminal_states"),
        Some(0),
        "{stdout}\n{stderr}"
    );
    assert!(
        summary_field(summary, "tasks").unwrap_or(0) > 0,
        "the scheduler ran tasks: {summary}"
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
}
