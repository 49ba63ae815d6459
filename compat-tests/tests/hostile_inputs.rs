//! Hostile inputs, each against real processes, with its effect bounded.
//! The bounds are wide on purpose (several times what was measured on a
//! loaded two-core machine); `bench-hostile` prints the precise figures.

use std::time::Duration;

use compat_tests::hostile::{resource_flood, start_master};

#[test]
fn agent_registering_60000_resources_leaves_master_responsive() {
    let master = start_master(&[]);
    let flood = resource_flood(&master, 60_000);
    eprintln!("{flood:?}");
    assert!(
        flood.health_max < Duration::from_millis(500),
        "/health took {:?} during the registration",
        flood.health_max
    );
    for took in flood.slaves {
        assert!(
            took < Duration::from_secs(2),
            "/master/slaves took {took:?}"
        );
    }
    assert!(
        flood.registration < Duration::from_secs(20),
        "registration took {:?}",
        flood.registration
    );
}
