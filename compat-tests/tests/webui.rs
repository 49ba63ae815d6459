//! The master's web UI routes (`--webui_dir`) against a real master and
//! agent: a page served by the master, loaded in headless Chromium, reads
//! `/master/state?jsonp=JSON_CALLBACK` and renders what it read; files
//! below `app/` and `assets/` have their content types; nothing outside
//! the directory is reachable; a missing directory is a 404, not a crash.

use std::process::Command;
use std::time::Duration;

use compat_tests::*;

fn fixture() -> String {
    path_str(&repo_root().join("compat-tests/fixtures/webui"))
}

/// The page's DOM after Chromium ran its scripts; panics (never skips)
/// when Chromium is missing.
fn rendered_dom(url: &str) -> String {
    let profile = tempfile::tempdir().expect("profile dir");
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--virtual-time-budget=10000",
            &format!("--user-data-dir={}", profile.path().display()),
            "--dump-dom",
            url,
        ])
        .output()
        .expect("chromium is missing: install Debian `chromium` (.ci/setup-operator-tools.sh)");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn web_ui_page_served_by_the_master_renders_master_state() {
    let mut cluster = Cluster::start(ClusterOptions {
        master_flags: vec![format!("--webui_dir={}", fixture())],
        ..Default::default()
    });
    let state = cluster.master_state().expect("state");
    let expected = format!(
        "agents=1 activated=1 master={}",
        state["id"].as_str().expect("id")
    );
    let mut dom = String::new();
    for _ in 0..3 {
        dom = rendered_dom(&format!("http://{}/", cluster.master));
        if dom.contains(&expected) {
            break;
        }
    }
    assert!(dom.contains(&expected), "expected '{expected}' in\n{dom}");

    // `/master/` is the same page; files have their content types.
    for (path, kind) in [
        ("/", "text/html"),
        ("/master/", "text/html"),
        ("/app/fixture.js", "application/javascript"),
        ("/master/app/fixture.js", "application/javascript"),
        ("/assets/fixture.css", "text/css"),
    ] {
        let r = http_get(&cluster.master, path).expect("get");
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-type"), Some(kind), "{path}");
    }
    for path in [
        "/app/missing.js",
        "/app/",
        "/app/../index.html",
        "/app/%2e%2e/index.html",
        "/assets/%2e%2e/%2e%2e/etc/passwd",
        "/app/..%2f..%2fetc/passwd",
    ] {
        let r = http_get(&cluster.master, path).expect("get");
        assert_eq!(r.status, 404, "{path}: {}", r.text());
    }
    cluster.assert_alive();
}

#[test]
fn a_missing_web_ui_directory_answers_404_and_the_master_keeps_running() {
    let mut cluster = Cluster::start(ClusterOptions {
        master_flags: vec!["--webui_dir=/nonexistent/mesos/webui".to_string()],
        ..Default::default()
    });
    for path in ["/", "/app/app.js", "/assets/x.css"] {
        let r = http_get(&cluster.master, path).expect("get");
        assert_eq!(r.status, 404, "{path}");
    }
    wait_for(Duration::from_secs(5), "state still served", || {
        http_get(&cluster.master, "/master/state").is_ok_and(|r| r.status == 200)
    });
    cluster.assert_alive();
}
