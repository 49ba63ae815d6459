//! Records facts about this build for `stout::build_info`: the git
//! commit, branch and tag when the source is a git checkout (nothing when
//! it is not, e.g. a source tarball), the build time (`SOURCE_DATE_EPOCH`
//! when set, for reproducible builds) and the building user.

use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?.trim().to_string();
    (!text.is_empty()).then_some(text)
}

fn main() {
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    println!("cargo:rerun-if-changed=build.rs");
    // A new commit or checkout changes HEAD or the ref it points at.
    if let Some(git_dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        println!("cargo:rerun-if-changed={git_dir}/HEAD");
        let common = git(&["rev-parse", "--git-common-dir"]).unwrap_or(git_dir.clone());
        let common = if Path::new(&common).is_absolute() {
            common
        } else {
            format!("{}/{common}", env!("CARGO_MANIFEST_DIR"))
        };
        if let Some(reference) = git(&["symbolic-ref", "-q", "HEAD"]) {
            let path = format!("{common}/{reference}");
            if Path::new(&path).exists() {
                println!("cargo:rerun-if-changed={path}");
            }
        }
        let packed = format!("{common}/packed-refs");
        if Path::new(&packed).exists() {
            println!("cargo:rerun-if-changed={packed}");
        }
    }

    let sha = git(&["rev-parse", "HEAD"]).unwrap_or_default();
    let branch = git(&["symbolic-ref", "-q", "--short", "HEAD"]).unwrap_or_default();
    let tag = git(&["describe", "--exact-match", "--tags", "HEAD"]).unwrap_or_default();
    let time = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        });
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_default();
    println!("cargo:rustc-env=MESOS_BUILD_GIT_SHA={sha}");
    println!("cargo:rustc-env=MESOS_BUILD_GIT_BRANCH={branch}");
    println!("cargo:rustc-env=MESOS_BUILD_GIT_TAG={tag}");
    println!("cargo:rustc-env=MESOS_BUILD_TIME={time}");
    println!("cargo:rustc-env=MESOS_BUILD_USER={user}");
}
