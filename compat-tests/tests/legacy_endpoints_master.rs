//! The master's legacy endpoints as upstream serves them, against a real
//! master and agent: `/master/state`'s keys in upstream's order with this
//! build's facts, `/master/teardown` (form body `frameworkId=`), and
//! `/logging/toggle`, each with upstream's status codes for bad input.

use std::time::Duration;

use compat_tests::*;
use mesos_proto::mesos::v1::FrameworkInfo;
use mesos_scheduler_client::{Client, ContentType};

/// Upstream's `/master/state` keys in the order its writer emits them
/// (optional ones included; each that is present must keep this order).
const STATE_ORDER: &[&str] = &[
    "version",
    "git_sha",
    "git_branch",
    "git_tag",
    "build_date",
    "build_time",
    "build_user",
    "start_time",
    "elected_time",
    "id",
    "pid",
    "hostname",
    "capabilities",
    "activated_slaves",
    "deactivated_slaves",
    "unreachable_slaves",
    "domain",
    "leader",
    "leader_info",
    "cluster",
    "log_dir",
    "external_log_file",
    "flags",
    "slaves",
    "recovered_slaves",
    "frameworks",
    "completed_frameworks",
    "orphan_tasks",
    "unregistered_frameworks",
];

fn keys(value: &serde_json::Value) -> Vec<String> {
    value
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn master_state_keys_follow_upstream_order_and_report_this_build() {
    let cluster = Cluster::start(ClusterOptions::default());
    let state = cluster.master_state().expect("state");
    let got = keys(&state);
    let positions: Vec<usize> = got
        .iter()
        .map(|k| {
            STATE_ORDER
                .iter()
                .position(|e| e == k)
                .unwrap_or_else(|| panic!("unexpected key {k} in {got:?}"))
        })
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "keys out of upstream's order: {got:?}"
    );
    for required in [
        "version",
        "build_date",
        "build_time",
        "build_user",
        "flags",
        "slaves",
    ] {
        assert!(got.iter().any(|k| k == required), "{required} missing");
    }
    // This build's commit, when built from git (as in development and CI).
    let head = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(repo_root())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let version = http_get(&cluster.master, "/version")
        .expect("version")
        .json();
    if let Some(head) = head {
        assert_eq!(state["git_sha"].as_str().map(str::len), Some(40), "{state}");
        assert_eq!(version["git_sha"], state["git_sha"]);
        // The binary was built from this checkout, maybe a commit or more
        // ago: its commit is HEAD or an ancestor of it.
        let sha = state["git_sha"].as_str().unwrap_or_default();
        let ancestor = std::process::Command::new("git")
            .args(["merge-base", "--is-ancestor", sha, &head])
            .current_dir(repo_root())
            .status()
            .expect("git");
        assert!(ancestor.success(), "{sha} is not in the history of {head}");
    }
    assert!(state["build_time"].as_f64().unwrap_or(0.0) > 1_700_000_000.0);
    assert_eq!(version["build_date"], state["build_date"]);
    // `/version` is a sorted map upstream.
    let vkeys = keys(&version);
    let mut sorted = vkeys.clone();
    sorted.sort();
    assert_eq!(vkeys, sorted);
}

fn post_form(cluster: &Cluster, path: &str, body: &str) -> RawResponse {
    http_request(
        &cluster.master,
        "POST",
        path,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    )
    .expect("post")
}

#[test]
fn teardown_removes_a_framework_and_rejects_bad_forms() {
    let mut cluster = Cluster::start(ClusterOptions::default());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let client = rt.block_on(async {
        let client = Client::connect(&cluster.master, ContentType::Json)
            .await
            .expect("connect");
        let info = FrameworkInfo {
            user: "root".into(),
            name: "teardown by operator".into(),
            ..Default::default()
        };
        let sub = client.subscribe(info).await.expect("subscribe");
        (client, sub)
    });
    let fw = client.1.framework_id.value.clone();

    let r = http_get(&cluster.master, "/master/teardown").expect("get");
    assert_eq!(r.status, 405);
    let r = post_form(&cluster, "/master/teardown", "");
    assert_eq!(r.status, 400);
    assert!(r.text().contains("Missing 'frameworkId'"), "{}", r.text());
    let r = post_form(
        &cluster,
        "/master/teardown",
        "frameworkId=no-such-framework",
    );
    assert_eq!(r.status, 400);
    assert!(r.text().contains("No framework found"), "{}", r.text());

    let r = post_form(
        &cluster,
        "/teardown",
        &format!("frameworkId={}", urlencode(&fw)),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    wait_for(Duration::from_secs(10), "framework completed", || {
        cluster.master_state().is_some_and(|s| {
            s["frameworks"].as_array().is_some_and(|a| a.is_empty())
                && s["completed_frameworks"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|f| f["id"] == fw.as_str()))
        })
    });
    // A second teardown finds nothing to remove.
    let r = post_form(&cluster, "/master/teardown", &format!("frameworkId={fw}"));
    assert_eq!(r.status, 400);
    drop(client);
    cluster.assert_alive();
}

#[test]
fn logging_toggle_checks_its_query_and_reverts() {
    let mut cluster = Cluster::start(ClusterOptions::default());
    let get = |path: &str| http_get(&cluster.master, path).expect("get");
    let r = get("/logging/toggle");
    assert_eq!((r.status, r.text()), (200, "0\n".to_string()));
    for (query, message) in [
        ("level=1", "Expecting 'duration=value' in query."),
        ("duration=1secs", "Expecting 'level=value' in query."),
        ("level=x&duration=1secs", "Failed to convert 'x' to number."),
        ("level=-1&duration=1secs", "Invalid level '-1'."),
    ] {
        let r = get(&format!("/logging/toggle?{query}"));
        assert_eq!(r.status, 400, "{query}");
        assert!(r.text().contains(message), "{query}: {}", r.text());
    }
    let r = get("/logging/toggle?level=1&duration=bad");
    assert_eq!(r.status, 400);

    let r = get("/logging/toggle?level=2&duration=2secs");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(get("/logging/toggle").text(), "2\n");
    wait_for(Duration::from_secs(10), "level reverts", || {
        get("/logging/toggle").text() == "0\n"
    });
    cluster.assert_alive();
}

fn get_json(addr: &str, path: &str) -> serde_json::Value {
    let r = http_get(addr, path).expect("get");
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    r.json()
}

fn task_ids(value: &serde_json::Value) -> Vec<String> {
    value["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["id"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn listing_endpoints_filter_page_and_keep_upstream_keys_on_a_busy_cluster() {
    let (cluster, rt, live) = compat_tests::busy::busy_cluster();
    let m = cluster.master.clone();
    let state = cluster.master_state().expect("state");
    let live_fw = state["frameworks"][0]["id"]
        .as_str()
        .expect("live")
        .to_string();
    let done_fw = state["completed_frameworks"][0]["id"]
        .as_str()
        .expect("completed")
        .to_string();
    let agent_id = state["slaves"][0]["id"]
        .as_str()
        .expect("agent")
        .to_string();

    // Top-level keys, in upstream's order.
    for (path, expected) in [
        (
            "/master/frameworks",
            vec![
                "frameworks",
                "completed_frameworks",
                "unregistered_frameworks",
            ],
        ),
        ("/master/slaves", vec!["slaves", "recovered_slaves"]),
        ("/master/tasks", vec!["tasks"]),
        ("/master/roles", vec!["roles"]),
        ("/master/flags", vec!["flags"]),
        (
            "/master/state-summary",
            vec!["hostname", "slaves", "frameworks"],
        ),
    ] {
        assert_eq!(keys(&get_json(&m, path)), expected, "{path}");
    }

    // /tasks: every task of current and completed frameworks, newest
    // first by default; limit, offset, order and the id filters.
    let all = task_ids(&get_json(&m, "/master/tasks"));
    assert_eq!(all.len(), 3, "{all:?}");
    let asc = task_ids(&get_json(&m, "/master/tasks?order=asc"));
    let mut reversed = all.clone();
    reversed.reverse();
    assert_eq!(asc, reversed);
    assert_eq!(
        task_ids(&get_json(&m, "/master/tasks?limit=1")),
        all[..1].to_vec()
    );
    assert_eq!(
        task_ids(&get_json(&m, "/master/tasks?limit=1&offset=1")),
        all[1..2].to_vec()
    );
    // Upstream ignores limits and offsets that are not numbers.
    assert_eq!(
        task_ids(&get_json(&m, "/master/tasks?limit=many&offset=x")),
        all
    );
    assert!(task_ids(&get_json(&m, "/master/tasks?offset=-1")).is_empty());
    assert_eq!(
        task_ids(&get_json(&m, "/master/tasks?task_id=runs")),
        vec!["runs"]
    );
    assert_eq!(
        task_ids(&get_json(
            &m,
            &format!("/master/tasks?framework_id={live_fw}")
        ))
        .len(),
        3
    );
    assert!(task_ids(&get_json(
        &m,
        &format!("/master/tasks?framework_id={done_fw}")
    ))
    .is_empty());
    let r = http_get(&m, "/master/tasks.json?jsonp=cb").expect("jsonp");
    assert_eq!(r.header("content-type"), Some("text/javascript"));
    assert!(r.text().starts_with("cb({\"tasks\":"));

    // /frameworks and /slaves filters.
    let f = get_json(&m, &format!("/master/frameworks?framework_id={live_fw}"));
    assert_eq!(f["frameworks"].as_array().map(Vec::len), Some(1));
    assert_eq!(f["completed_frameworks"].as_array().map(Vec::len), Some(0));
    let f = get_json(&m, &format!("/master/frameworks?framework_id={done_fw}"));
    assert_eq!(f["frameworks"].as_array().map(Vec::len), Some(0));
    assert_eq!(f["completed_frameworks"].as_array().map(Vec::len), Some(1));
    let s = get_json(&m, &format!("/master/slaves?slave_id={agent_id}"));
    assert_eq!(s["slaves"].as_array().map(Vec::len), Some(1));
    let s = get_json(&m, "/master/slaves?slave_id=nope");
    assert_eq!(s["slaves"].as_array().map(Vec::len), Some(0));

    // Health is an empty 200; the old aliases answer like the new names.
    let r = http_get(&m, "/master/health").expect("health");
    assert_eq!((r.status, r.text()), (200, String::new()));
    assert_eq!(keys(&get_json(&m, "/master/state.json")), keys(&state));
    assert_eq!(keys(&get_json(&m, "/master/roles.json")), vec!["roles"]);

    live.abort();
    drop(rt);
}
