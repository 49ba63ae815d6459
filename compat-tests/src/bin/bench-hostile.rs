//! `bench-hostile`: the hostile-input scenarios of `tests/hostile_inputs.rs`
//! with their precise figures. Uses the binaries next to this one (build
//! with `--release` for release figures).
//!
//! Usage: `bench-hostile [resources|idle|bodies|all] [N]`.

use compat_tests::hostile::{
    body_flood, idle_flood, raise_nofile, resource_flood, start_agent, start_master,
};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).map_or("all", String::as_str);
    let n: Option<usize> = args.get(2).and_then(|n| n.parse().ok());
    if matches!(which, "resources" | "all") {
        let master = start_master(&[]);
        let f = resource_flood(&master, n.unwrap_or(60_000));
        println!(
            "resources: {} scalar resources in a {} byte RegisterSlaveMessage: registered in {:.3}s; \
             /health max {:.1}ms; /master/slaves {:.1}ms and {:.1}ms; master RSS {} MiB",
            f.resources,
            f.message_bytes,
            f.registration.as_secs_f64(),
            f.health_max.as_secs_f64() * 1e3,
            f.slaves[0].as_secs_f64() * 1e3,
            f.slaves[1].as_secs_f64() * 1e3,
            f.rss_kib / 1024
        );
    }
    if matches!(which, "idle" | "all") {
        let n = n.unwrap_or(8_400);
        raise_nofile(n as u64 + 1024);
        let master = start_master(&[]);
        let f = idle_flood(&master, n);
        let max = f.health.iter().max().copied().unwrap_or_default();
        println!(
            "idle: opened {} idle connections ({} still held by the master); /health max {:.1}ms over {} requests",
            f.opened,
            f.still_open,
            max.as_secs_f64() * 1e3,
            f.health.len()
        );
    }
    if matches!(which, "bodies" | "all") {
        let count = n.unwrap_or(10);
        let master = start_master(&[]);
        let agent = start_agent(&master.addr, &[]);
        for (name, target, path) in [
            ("master", &master, "/master/api/v1/scheduler"),
            ("agent", &agent, "/slave(1)/api/v1/executor"),
        ] {
            let f = body_flood(target, path, count, 60 << 20);
            println!(
                "bodies: {} x {} MiB to the {name}: RSS {} MiB before, peak {} MiB, {} MiB after; statuses {:?}",
                f.bodies,
                f.body_bytes >> 20,
                f.rss_before_kib / 1024,
                f.peak_rss_kib / 1024,
                f.rss_after_kib / 1024,
                f.statuses
            );
        }
    }
}
