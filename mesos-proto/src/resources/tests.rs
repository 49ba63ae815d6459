//! Unit tests for `resources` (example-based, plus seeded property checks).

#![allow(clippy::unwrap_used)]

use super::*;
use crate::mesos::v1::resource::disk_info::{source, Persistence, Source};
use crate::mesos::v1::resource::{AllocationInfo, RevocableInfo, SharedInfo};

fn scalar(name: &str, value: f64) -> Resource {
    Resource {
        name: name.into(),
        r#type: ValueType::Scalar as i32,
        scalar: Some(value::Scalar { value }),
        ..Default::default()
    }
}

fn ranges(name: &str, r: &[(u64, u64)]) -> Resource {
    Resource {
        name: name.into(),
        r#type: ValueType::Ranges as i32,
        ranges: Some(to_ranges(r.to_vec())),
        ..Default::default()
    }
}

fn set(name: &str, items: &[&str]) -> Resource {
    Resource {
        name: name.into(),
        r#type: ValueType::Set as i32,
        set: Some(Box::new(value::Set {
            item: items.iter().map(|s| s.to_string()).collect(),
        })),
        ..Default::default()
    }
}

fn reserved(mut r: Resource, stack: &[(ReservationType, &str, Option<&str>)]) -> Resource {
    r.reservations = stack
        .iter()
        .map(|(t, role, principal)| ReservationInfo {
            r#type: Some(*t as i32),
            role: Some(role.to_string()),
            principal: principal.map(str::to_string),
            labels: None,
        })
        .collect();
    r
}

fn dynamic(r: Resource, role: &str) -> Resource {
    reserved(r, &[(ReservationType::Dynamic, role, Some("ops"))])
}

fn volume(id: &str, size: f64) -> Resource {
    let mut r = dynamic(scalar("disk", size), "db");
    r.disk = Some(Box::new(DiskInfo {
        persistence: Some(Persistence {
            id: id.into(),
            principal: Some("ops".into()),
        }),
        volume: None,
        source: None,
    }));
    r
}

fn mount_disk(root: &str, size: f64) -> Resource {
    let mut r = scalar("disk", size);
    r.disk = Some(Box::new(DiskInfo {
        persistence: None,
        volume: None,
        source: Some(Source {
            r#type: source::Type::Mount as i32,
            mount: Some(source::Mount {
                root: Some(root.into()),
            }),
            ..Default::default()
        }),
    }));
    r
}

fn res(list: Vec<Resource>) -> Resources {
    Resources::try_from_vec(list).unwrap()
}

#[test]
fn fixed_point_scalars() {
    assert_eq!(scalar_add(0.1, 0.2), 0.3);
    assert_eq!(scalar_sub(0.3, 0.1), 0.2);
    assert!(scalar_eq(1.0004, 1.0));
    assert!(!scalar_eq(1.0005, 1.0));
    assert_eq!(scalar_to_fixed(f64::NAN), 0);
    assert_eq!(scalar_to_fixed(f64::INFINITY), i64::MAX);
    assert_eq!(scalar_from_fixed(-1500), -1.5);

    let mut r = Resources::new();
    for _ in 0..10 {
        r += scalar("cpus", 0.1);
    }
    assert_eq!(r.cpus(), Some(1.0));
    assert_eq!(r.len(), 1);
    r -= &scalar("cpus", 0.7);
    assert_eq!(r.cpus(), Some(0.3));
    // Sub-granularity amounts are empty and ignored.
    r += scalar("cpus", 0.0004);
    assert_eq!(r.cpus(), Some(0.3));
}

#[test]
fn ranges_coalesce_subtract_contain() {
    assert_eq!(
        coalesce_ranges(vec![(5, 6), (1, 2), (3, 4), (10, 12), (11, 11)]),
        vec![(1, 6), (10, 12)]
    );
    assert_eq!(
        coalesce_ranges(vec![(u64::MAX - 1, u64::MAX), (0, 0), (u64::MAX, u64::MAX)]),
        vec![(0, 0), (u64::MAX - 1, u64::MAX)]
    );
    assert_eq!(
        subtract_ranges(&[(1, 10)], &[(3, 4), (10, 10)]),
        vec![(1, 2), (5, 9)]
    );
    assert_eq!(
        subtract_ranges(&[(0, u64::MAX)], &[(0, 0), (u64::MAX, u64::MAX)]),
        vec![(1, u64::MAX - 1)]
    );
    assert_eq!(subtract_ranges(&[(1, 5)], &[(0, 100)]), vec![]);
    assert!(ranges_contain(&[(1, 3), (4, 10)], &[(2, 8)]));
    assert!(!ranges_contain(&[(1, 3), (5, 10)], &[(2, 8)]));
    assert!(ranges_contain(&[(1, 3)], &[]));

    let mut r = res(vec![ranges("ports", &[(31000, 32000)])]);
    r -= &ranges("ports", &[(31000, 31000), (31500, 31599)]);
    assert_eq!(r.ports(), vec![(31001, 31499), (31600, 32000)]);
    r += ranges("ports", &[(31500, 31599), (31000, 31000)]);
    assert_eq!(r.ports(), vec![(31000, 32000)]);
    assert_eq!(format_ranges(&r.ports()), "[31000-32000]");
}

#[test]
fn sets_add_subtract_contain() {
    let mut r = res(vec![set("zones", &["a", "b"])]);
    r += set("zones", &["b", "c"]);
    assert_eq!(r.set("zones"), vec!["a", "b", "c"]);
    assert!(r.contains_resource(&set("zones", &["c", "a"])));
    assert!(!r.contains_resource(&set("zones", &["d"])));
    r -= &set("zones", &["a", "x"]);
    assert_eq!(r.set("zones"), vec!["b", "c"]);
    r -= &set("zones", &["b", "c"]);
    assert!(r.is_empty());
}

#[test]
fn different_kinds_do_not_merge() {
    let r = res(vec![
        scalar("cpus", 1.0),
        dynamic(scalar("cpus", 2.0), "web"),
        reserved(
            scalar("cpus", 4.0),
            &[(ReservationType::Static, "web", None)],
        ),
        {
            let mut c = scalar("cpus", 8.0);
            c.revocable = Some(RevocableInfo {});
            c
        },
        {
            let mut c = scalar("cpus", 16.0);
            c.allocation_info = Some(AllocationInfo {
                role: Some("web".into()),
            });
            c
        },
    ]);
    assert_eq!(r.len(), 5);
    assert_eq!(r.cpus(), Some(31.0));
    assert_eq!(r.unreserved().cpus(), Some(25.0));
    assert_eq!(r.reserved(Some("web")).cpus(), Some(6.0));
    assert_eq!(r.reserved(None).cpus(), Some(6.0));
    assert_eq!(r.revocable().cpus(), Some(8.0));
    assert_eq!(r.non_revocable().cpus(), Some(23.0));
    assert_eq!(r.allocations().get("web").unwrap().cpus(), Some(16.0));
    assert_eq!(r.flatten().cpus(), Some(31.0));
    assert_eq!(r.to_unreserved().reserved(None).len(), 0);
    assert_eq!(r.reservations().get("web").unwrap().cpus(), Some(6.0));
}

#[test]
fn subtraction_is_saturating() {
    let mut r = res(vec![scalar("cpus", 1.0), scalar("mem", 128.0)]);
    r -= &scalar("cpus", 5.0); // more than there is: removed entirely
    assert_eq!(r.cpus(), None);
    r -= &scalar("gpus", 1.0); // absent: ignored
    r -= &dynamic(scalar("mem", 64.0), "web"); // different reservation: ignored
    assert_eq!(r.mem(), Some(128.0));
    assert_eq!(r.scalar("cpus"), 0.0);
}

#[test]
fn contains_and_equality() {
    let total = res(vec![
        scalar("cpus", 4.0),
        scalar("mem", 1024.0),
        ranges("ports", &[(31000, 32000)]),
    ]);
    let task = res(vec![
        scalar("cpus", 1.5),
        ranges("ports", &[(31005, 31006)]),
    ]);
    assert!(total.contains(&task));
    assert!(!task.contains(&total));
    assert!(!total.contains(&res(vec![scalar("cpus", 4.001)])));
    assert!(!total.contains(&res(vec![dynamic(scalar("cpus", 1.0), "web")])));

    let same = res(vec![
        ranges("ports", &[(31000, 31500), (31501, 32000)]),
        scalar("mem", 512.0),
        scalar("mem", 512.0),
        scalar("cpus", 4.0),
    ]);
    assert_eq!(total, same);
    assert_ne!(total, task);
}

#[test]
fn persistent_volumes_and_disks() {
    // Two volumes with distinct ids never merge, even with the same size.
    let mut r = res(vec![volume("v1", 100.0), volume("v2", 100.0)]);
    assert_eq!(r.len(), 2);
    assert_eq!(r.persistent_volumes().len(), 2);
    // Subtracting a volume needs an exact match.
    r -= &volume("v1", 50.0);
    assert_eq!(r.len(), 2);
    r -= &volume("v1", 100.0);
    assert_eq!(r.len(), 1);
    // Containment of two copies of the same volume needs two of them.
    let one = res(vec![volume("v2", 100.0)]);
    let mut two = Resources::new();
    two += &one;
    assert!(r.contains(&one));

    // MOUNT disks are exclusive: no merging, no partial subtraction.
    let mut m = res(vec![
        mount_disk("/mnt/a", 100.0),
        mount_disk("/mnt/a", 100.0),
    ]);
    assert_eq!(m.len(), 2);
    m -= &mount_disk("/mnt/a", 50.0);
    assert_eq!(m.disk(), Some(200.0));
    m -= &mount_disk("/mnt/a", 100.0);
    assert_eq!(m.disk(), Some(100.0));
    assert!(!m.contains_resource(&mount_disk("/mnt/a", 10.0)));
    assert!(is_disk(m.iter().next().unwrap(), source::Type::Mount));

    // The `volume` field does not take part in equality.
    let mut with_volume = volume("v2", 100.0);
    with_volume.disk.as_mut().unwrap().volume = Some(crate::mesos::v1::Volume {
        container_path: "data".into(),
        ..Default::default()
    });
    assert!(resource_eq(&with_volume, &volume("v2", 100.0)));
}

#[test]
fn shared_resources_are_counted() {
    let mut shared = volume("s1", 10.0);
    shared.shared = Some(SharedInfo {});
    let mut r = Resources::new();
    r += shared.clone();
    r += shared.clone();
    assert_eq!(r.len(), 1);
    assert_eq!(r.count(&shared), 2);
    let mut one = Resources::new();
    one += shared.clone();
    assert!(r.contains(&one));
    assert!(!one.contains(&r));
    r -= &shared;
    assert_eq!(r.count(&shared), 1);
    r -= &shared;
    assert!(r.is_empty());
    // Shared and non-shared versions of the same volume are different things.
    let unshared = res(vec![volume("s1", 10.0)]);
    assert!(!unshared.contains(&one));
    assert_eq!(r.shared().len(), 0);
}

#[test]
fn validation_rules() {
    let ok = |r: &Resource| validate(r).is_ok();
    assert!(ok(&scalar("cpus", 1.0)));
    assert!(!ok(&scalar("", 1.0)));
    assert!(!ok(&scalar("cpus", -1.0)));
    assert!(!ok(&scalar("cpus", f64::NAN)));
    assert!(!ok(&scalar("cpus", f64::INFINITY)));
    assert!(!ok(&ranges("ports", &[(5, 3)])));
    assert!(!ok(&ranges("ports", &[(5, 10), (1, 6)])));
    assert!(!ok(&ranges("ports", &[(1, 6), (5, 10)])));
    assert!(ok(&ranges("ports", &[(1, 4), (5, 10)])));
    assert!(!ok(&set("zones", &["a", "a"])));
    let mut text = scalar("x", 1.0);
    text.r#type = ValueType::Text as i32;
    assert!(!ok(&text));
    let mut both = scalar("cpus", 1.0);
    both.set = Some(Box::new(value::Set::default()));
    assert!(!ok(&both));
    let mut bad_type = scalar("cpus", 1.0);
    bad_type.r#type = 42;
    assert!(!ok(&bad_type));

    // Disk info only on disk; shared only on persistent volumes.
    let mut cpu_disk = scalar("cpus", 1.0);
    cpu_disk.disk = Some(Box::default());
    assert!(!ok(&cpu_disk));
    let mut shared_cpu = scalar("cpus", 1.0);
    shared_cpu.shared = Some(SharedInfo {});
    assert!(!ok(&shared_cpu));
    let mut shared_disk = scalar("disk", 1.0);
    shared_disk.shared = Some(SharedInfo {});
    assert!(!ok(&shared_disk));

    // Reservation stacks.
    assert!(ok(&dynamic(scalar("cpus", 1.0), "web")));
    assert!(!ok(&dynamic(scalar("cpus", 1.0), "*")));
    assert!(!ok(&dynamic(scalar("cpus", 1.0), "a//b")));
    let refined = reserved(
        scalar("cpus", 1.0),
        &[
            (ReservationType::Static, "eng", None),
            (ReservationType::Dynamic, "eng/web", Some("p")),
        ],
    );
    assert!(ok(&refined));
    assert!(has_refined_reservations(&refined));
    let not_a_refinement = reserved(
        scalar("cpus", 1.0),
        &[
            (ReservationType::Dynamic, "eng", None),
            (ReservationType::Dynamic, "engweb", None),
        ],
    );
    let e = validate(&not_a_refinement).unwrap_err().to_string();
    assert!(e.contains("is not a refinement of 'eng'"), "{e}");
    let static_refinement = reserved(
        scalar("cpus", 1.0),
        &[
            (ReservationType::Static, "eng", None),
            (ReservationType::Static, "eng/web", None),
        ],
    );
    assert!(!ok(&static_refinement));
    let mut untyped = dynamic(scalar("cpus", 1.0), "web");
    untyped.reservations[0].r#type = None;
    assert!(!ok(&untyped));

    // Pre-refinement format.
    let mut legacy = scalar("cpus", 1.0);
    legacy.role = Some("web".into());
    assert!(ok(&legacy));
    legacy.reservation = Some(Box::new(ReservationInfo {
        principal: Some("ops".into()),
        ..Default::default()
    }));
    assert!(ok(&legacy));
    legacy.role = Some("*".into());
    assert!(!ok(&legacy));

    // Endpoint format must agree with the stack.
    let mut endpoint = dynamic(scalar("cpus", 1.0), "web");
    endpoint.role = Some("web".into());
    assert!(!ok(&endpoint)); // role without reservation on a DYNAMIC one
    endpoint.reservation = Some(Box::new(ReservationInfo {
        principal: Some("ops".into()),
        ..Default::default()
    }));
    assert!(ok(&endpoint));
    endpoint.role = Some("other".into());
    assert!(!ok(&endpoint));
}

#[test]
fn role_names() {
    for good in ["*", "web", "eng/web", "a.b", "a-b", "_x"] {
        assert!(validate_role(good).is_ok(), "{good}");
    }
    for bad in [
        "", ".", "..", "-a", "/a", "a/", "a//b", "a/./b", "a/../b", "a/*", "*/a", "a b", "a\tb",
        "a/-b",
    ] {
        assert!(validate_role(bad).is_err(), "{bad:?}");
    }
    assert!(is_strict_subrole_of("foo/bar", "foo"));
    assert!(is_strict_subrole_of("foo/bar/baz", "foo"));
    assert!(!is_strict_subrole_of("foo", "foo"));
    assert!(!is_strict_subrole_of("foobar", "foo"));
    assert!(!is_strict_subrole_of("", "foo"));
}

#[test]
fn allocatable_to_hierarchical_roles() {
    let r = res(vec![
        scalar("cpus", 1.0),
        dynamic(scalar("cpus", 2.0), "eng"),
        reserved(
            scalar("cpus", 4.0),
            &[
                (ReservationType::Dynamic, "eng", None),
                (ReservationType::Dynamic, "eng/web", None),
            ],
        ),
        dynamic(scalar("cpus", 8.0), "ops"),
    ]);
    assert_eq!(r.allocatable_to("eng").cpus(), Some(3.0));
    assert_eq!(r.allocatable_to("eng/web").cpus(), Some(7.0));
    assert_eq!(r.allocatable_to("ops").cpus(), Some(9.0));
    assert_eq!(r.reserved_to_role_subtree("eng").cpus(), Some(6.0));
    assert_eq!(r.without_refined_reservations().cpus(), Some(11.0));
    assert_eq!(r.pop_reservation().reserved(Some("eng")).cpus(), Some(4.0));
    assert_eq!(r.pop_reservation().unreserved().cpus(), Some(11.0));

    let pushed = res(vec![dynamic(scalar("cpus", 2.0), "eng")])
        .push_reservation(&ReservationInfo {
            r#type: Some(ReservationType::Dynamic as i32),
            role: Some("eng/ml".into()),
            principal: None,
            labels: None,
        })
        .unwrap();
    assert_eq!(pushed.reserved(Some("eng/ml")).cpus(), Some(2.0));
    assert!(res(vec![dynamic(scalar("cpus", 2.0), "eng")])
        .push_reservation(&ReservationInfo {
            r#type: Some(ReservationType::Dynamic as i32),
            role: Some("ops".into()),
            principal: None,
            labels: None,
        })
        .is_err());
}

#[test]
fn allocate_and_unallocate() {
    let mut r = res(vec![scalar("cpus", 1.0), scalar("mem", 10.0)]);
    r.allocate("web");
    assert!(r
        .iter()
        .all(|x| x.allocation_info.as_ref().unwrap().role() == "web"));
    assert_eq!(r.allocated_to_role_subtree("web").len(), 2);
    r += scalar("cpus", 1.0); // unallocated: a separate object
    assert_eq!(r.len(), 3);
    r.unallocate();
    assert_eq!(r.len(), 2);
    assert_eq!(r.cpus(), Some(2.0));
}

#[test]
fn parse_agent_flag() {
    let r = Resources::parse("cpus:2;mem:1024;disk:4096;ports:[31000-32000];gpus:0", "*").unwrap();
    assert_eq!(r.cpus(), Some(2.0));
    assert_eq!(r.mem(), Some(1024.0));
    assert_eq!(r.disk(), Some(4096.0));
    assert_eq!(r.ports(), vec![(31000, 32000)]);
    assert_eq!(r.gpus(), None, "zero amounts are dropped");
    assert!(r.iter().all(is_unreserved));

    let r = Resources::parse(
        "cpus(web):2; mem(web) : 512 ;cpus:1;zones:{a, b,c};ports:[1-2, 5 - 6,3-4]",
        "*",
    )
    .unwrap();
    assert_eq!(r.reserved(Some("web")).cpus(), Some(2.0));
    assert_eq!(r.reserved(Some("web")).mem(), Some(512.0));
    assert_eq!(r.unreserved().cpus(), Some(1.0));
    assert_eq!(r.set("zones"), vec!["a", "b", "c"]);
    assert_eq!(r.ports(), vec![(1, 6)]);
    let web = r.reserved(Some("web"));
    let first = web.iter().next().unwrap();
    assert_eq!(first.reservations[0].r#type(), ReservationType::Static);
    assert_eq!(first.role, None);

    // Default role.
    let r = Resources::parse("cpus:2", "analytics").unwrap();
    assert_eq!(r.reserved(Some("analytics")).cpus(), Some(2.0));
    let r = Resources::parse("cpus(*):2", "analytics").unwrap();
    assert_eq!(r.unreserved().cpus(), Some(2.0));

    // Same name summed.
    assert_eq!(
        Resources::parse("cpus:1;cpus:2.5", "*").unwrap().cpus(),
        Some(3.5)
    );
    // Empty text is no resources.
    assert!(Resources::parse("", "*").unwrap().is_empty());
}

#[test]
fn parse_errors() {
    for bad in [
        "cpus",
        "cpus:1:2",
        "cpus(web:1",
        "cpus)web(:1",
        "cpus:-1",
        "cpus:abc",
        "ports:[1-2",
        "ports:[a-b]",
        "ports:[1-2-3]",
        "ports:[5-1]",
        "ports:1[1-2]",
        "zones:a{b}",
        "cpus:1;cpus:[1-2]",
        "cpus(a//b):1",
        "cpus:NaN",
    ] {
        let e = Resources::parse(bad, "*");
        assert!(e.is_err(), "{bad} parsed as {:?}", e.map(|r| r.to_string()));
    }
    let message = Resources::parse("cpus:abc", "*").unwrap_err().to_string();
    assert!(
        message.contains("cpus") && message.contains("TEXT"),
        "{message}"
    );
}

#[test]
fn pre_refinement_format_round_trip() {
    let mut labels_reservation = dynamic(scalar("mem", 64.0), "web");
    labels_reservation.reservations[0].labels = Some(Labels {
        labels: vec![Label {
            key: "k".into(),
            value: Some("v".into()),
        }],
    });
    let post = vec![
        scalar("cpus", 1.0),
        reserved(
            scalar("cpus", 2.0),
            &[(ReservationType::Static, "web", None)],
        ),
        labels_reservation.clone(),
    ];

    let mut pre = post.clone();
    to_pre_refinement(&mut pre);
    assert_eq!(pre[0].role.as_deref(), Some("*"));
    assert!(pre[0].reservation.is_none() && pre[0].reservations.is_empty());
    assert_eq!(pre[1].role.as_deref(), Some("web"));
    assert!(
        pre[1].reservation.is_none(),
        "static reservations have no ReservationInfo"
    );
    assert!(pre[1].reservations.is_empty());
    assert_eq!(pre[2].role.as_deref(), Some("web"));
    let legacy = pre[2].reservation.as_ref().unwrap();
    assert_eq!(legacy.principal.as_deref(), Some("ops"));
    assert_eq!(legacy.labels.as_ref().unwrap().labels[0].key, "k");
    assert_eq!(legacy.role, None);
    assert_eq!(legacy.r#type, None);
    assert!(pre[2].reservations.is_empty());
    for r in &pre {
        assert!(validate(r).is_ok(), "{}", DisplayResource(r));
    }

    let mut back = pre.clone();
    from_pre_refinement(&mut back);
    assert_eq!(back, post);

    // The master accepts either format: the same Resources either way.
    assert_eq!(res(pre.clone()), res(post.clone()));
    assert_eq!(Resources::from(pre).to_pre_refinement().len(), 3);

    // Endpoint format keeps both.
    let mut endpoint = post.clone();
    to_endpoint_format(&mut endpoint);
    assert_eq!(endpoint[2].role.as_deref(), Some("web"));
    assert!(endpoint[2].reservation.is_some());
    assert_eq!(endpoint[2].reservations.len(), 1);
    assert!(validate(&endpoint[2]).is_ok());
    let mut back = endpoint;
    from_pre_refinement(&mut back);
    assert_eq!(back, post);
}

#[test]
fn refined_reservations_never_look_unreserved_in_old_format() {
    let mut refined = vec![reserved(
        scalar("cpus", 1.0),
        &[
            (ReservationType::Static, "eng", None),
            (ReservationType::Dynamic, "eng/web", None),
        ],
    )];
    to_pre_refinement(&mut refined);
    assert_eq!(refined[0].role.as_deref(), Some("eng/web"));
    assert_eq!(refined[0].reservations.len(), 2);
}

#[test]
fn v0_twins() {
    let r = res(vec![
        dynamic(scalar("cpus", 2.0), "web"),
        ranges("ports", &[(1, 9)]),
    ]);
    let v0 = r.to_v0();
    assert_eq!(v0.len(), 2);
    assert_eq!(Resources::from_v0(&v0), r);
}

#[test]
fn display_like_upstream() {
    let r = res(vec![
        scalar("cpus", 2.5),
        dynamic(scalar("mem", 1024.0), "web"),
        ranges("ports", &[(31000, 32000), (33000, 33001)]),
        set("zones", &["a", "b"]),
    ]);
    let text = r.to_string();
    assert!(text.contains("cpus:2.5"), "{text}");
    assert!(
        text.contains("mem(reservations: [(DYNAMIC,web,ops)]):1024"),
        "{text}"
    );
    assert!(text.contains("ports:[31000-32000, 33000-33001]"), "{text}");
    assert!(text.contains("zones:{a, b}"), "{text}");
}

#[test]
fn invalid_resources_are_dropped_by_from_and_rejected_by_try_from() {
    let list = vec![scalar("cpus", 1.0), scalar("mem", -5.0)];
    assert_eq!(Resources::from(list.clone()).len(), 1);
    assert!(Resources::try_from_vec(list).is_err());
    assert!(!Resources::from(vec![scalar("cpus", 1.0)]).contains_resource(&scalar("cpus", -1.0)));
}

// ---------------------------------------------------------------------------
// Seeded property checks.
// ---------------------------------------------------------------------------

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn random_resource(rng: &mut Rng) -> Resource {
    let mut r = match rng.below(3) {
        0 => scalar(
            ["cpus", "mem", "disk"][rng.below(3) as usize],
            rng.below(5000) as f64 / 1000.0,
        ),
        1 => {
            let n = 1 + rng.below(3);
            let mut list = Vec::new();
            for _ in 0..n {
                let begin = rng.below(100);
                list.push((begin, begin + rng.below(10)));
            }
            ranges("ports", &coalesce_ranges(list))
        }
        _ => {
            let mut items: Vec<&str> = ["a", "b", "c", "d"]
                .into_iter()
                .filter(|_| rng.below(2) == 0)
                .collect();
            items.dedup();
            set("zones", &items)
        }
    };
    match rng.below(4) {
        0 => r = dynamic(r, "web"),
        1 => r = reserved(r, &[(ReservationType::Static, "web", None)]),
        _ => {}
    }
    r
}

fn random_resources(rng: &mut Rng) -> Resources {
    (0..rng.below(6)).map(|_| random_resource(rng)).collect()
}

#[test]
fn property_addition_and_subtraction() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..2000 {
        let a = random_resources(&mut rng);
        let b = random_resources(&mut rng);
        let sum = &a + &b;
        assert!(sum.contains(&a), "{sum} should contain {a}");
        assert!(sum.contains(&b), "{sum} should contain {b}");
        assert_eq!(sum, &b + &a, "addition commutes");
        // Ranges and sets are unions, so `- b` may take back more than `+ b`
        // added; scalars are exact.
        let back = &sum - &b;
        assert!(
            a.contains(&back),
            "{a} should contain ({a}) + ({b}) - ({b}) = {back}"
        );
        assert_eq!(back.scalars(), a.scalars(), "({a}) + ({b}) - ({b})");
        let diff = &a - &b;
        assert!(a.contains(&diff), "{a} should contain {a} - {b} = {diff}");
        assert!(a.contains(&Resources::new()));
        // Totals by name are additive.
        for name in ["cpus", "mem", "disk"] {
            assert!(scalar_eq(
                sum.scalar(name),
                scalar_add(a.scalar(name), b.scalar(name))
            ));
        }
        // Filters partition.
        assert_eq!(&a.reserved(None) + &a.unreserved(), a);
        // No empty objects are ever held.
        assert!(sum.iter().all(|r| !is_empty_value(r)));
        assert!(diff.iter().all(|r| validate(r).is_ok()));
    }
}

#[test]
fn property_format_round_trip() {
    let mut rng = Rng(42);
    for _ in 0..1000 {
        let a = random_resources(&mut rng);
        let mut pre = a.to_pre_refinement();
        assert!(pre
            .iter()
            .all(|r| r.reservations.is_empty() && r.role.is_some()));
        assert!(pre.iter().all(|r| validate(r).is_ok()));
        from_pre_refinement(&mut pre);
        assert_eq!(Resources::try_from_vec(pre).unwrap(), a);
    }
}

#[test]
fn parse_json_array_form() {
    let r = Resources::parse(
        r#"[
            {"name":"cpus","type":"SCALAR","scalar":{"value":2}},
            {"name":"mem","type":"SCALAR","scalar":{"value":512},"role":"web"},
            {"name":"ports","type":"RANGES","ranges":{"range":[{"begin":31000,"end":31010}]}},
            {"name":"gpus","type":"SCALAR","scalar":{"value":1},
             "reservations":[{"type":"STATIC","role":"ml"}]}
        ]"#,
        "*",
    )
    .unwrap();
    assert_eq!(r.unreserved().cpus(), Some(2.0));
    assert_eq!(r.reserved(Some("web")).mem(), Some(512.0));
    assert_eq!(r.ports(), vec![(31000, 31010)]);
    assert_eq!(r.reserved(Some("ml")).gpus(), Some(1.0));
    assert!(r.iter().all(|x| x.role.is_none()));

    // Default role applies to JSON entries without role or reservations.
    let r = Resources::parse(
        r#"[{"name":"cpus","type":"SCALAR","scalar":{"value":2}}]"#,
        "web",
    )
    .unwrap();
    assert_eq!(r.reserved(Some("web")).cpus(), Some(2.0));

    // Dynamic reservations and bad JSON entries are rejected.
    assert!(Resources::parse(
        r#"[{"name":"cpus","type":"SCALAR","scalar":{"value":2},"reservations":[{"type":"DYNAMIC","role":"web"}]}]"#,
        "*"
    )
    .is_err());
    let e = Resources::parse(r#"[{"name":"cpus","type":"NOPE"}]"#, "*").unwrap_err();
    assert!(e.to_string().contains("JSON"), "{e}");
}

fn static_to(r: Resource, role: &str) -> Resource {
    reserved(r, &[(ReservationType::Static, role, None)])
}

fn wanted(text: &str) -> Resources {
    Resources::parse(text, "*").unwrap()
}

#[test]
fn find_is_all_or_nothing() {
    let mut offer = res(vec![scalar("cpus", 1.0), scalar("mem", 100.0)]);
    let small = wanted("cpus:0.3;mem:40");
    for _ in 0..2 {
        let found = offer.find(&small, "*").unwrap();
        assert_eq!(found, small);
        offer -= &found;
    }
    // 0.4 cpus and 20 mem left: mem does not fit, so nothing is found.
    assert_eq!(offer.find(&small, "*"), None);
    assert_eq!(offer.cpus(), Some(0.4));
    assert_eq!(offer.mem(), Some(20.0));
    // Nothing wanted is always found.
    assert_eq!(offer.find(&Resources::new(), "*"), Some(Resources::new()));
}

#[test]
fn find_packs_small_amounts_exactly() {
    let mut offer = res(vec![scalar("cpus", 2.0), scalar("mem", 1000.0)]);
    let tiny = wanted("cpus:0.01;mem:1");
    let mut n = 0;
    while let Some(found) = offer.find(&tiny, "*") {
        offer -= &found;
        n += 1;
    }
    assert_eq!(n, 200);
    assert!(offer.cpus().is_none());
}

#[test]
fn find_prefers_the_role_reservation_and_keeps_metadata() {
    let mut offer = res(vec![
        scalar("cpus", 4.0),
        static_to(scalar("cpus", 1.0), "web"),
    ]);
    offer.allocate("web");
    let found = offer.find(&wanted("cpus:1.5"), "web").unwrap().into_vec();
    assert_eq!(found.len(), 2);
    assert_eq!(reservation_role(&found[0]), Some("web"));
    assert_eq!(found[0].scalar.unwrap().value, 1.0);
    assert!(found[1].reservations.is_empty());
    assert_eq!(found[1].scalar.unwrap().value, 0.5);
    assert!(found
        .iter()
        .all(|r| r.allocation_info.as_ref().unwrap().role() == "web"));
    assert!(offer.contains(&Resources::from(found)));
}

#[test]
fn find_role_rules() {
    let offer = res(vec![
        scalar("cpus", 1.0),
        static_to(scalar("cpus", 1.0), "web"),
        static_to(scalar("cpus", 1.0), "db"),
    ]);
    // A reserved target uses only that reservation.
    let found = offer.find(&wanted("cpus(web):1"), "*").unwrap();
    assert_eq!(found.reserved(Some("web")).cpus(), Some(1.0));
    assert_eq!(offer.find(&wanted("cpus(web):1.5"), "*"), None);
    assert_eq!(
        res(vec![scalar("cpus", 4.0)]).find(&wanted("cpus(web):1"), "*"),
        None
    );
    // Acting as `web`: web's reservation, then unreserved; never `db`'s.
    assert!(offer.find(&wanted("cpus:2"), "web").is_some());
    assert_eq!(offer.find(&wanted("cpus:2.5"), "web"), None);
    // Acting as `*`: unreserved first, then any reservation.
    let found = offer.find(&wanted("cpus:3"), "*").unwrap();
    assert_eq!(found.unreserved().cpus(), Some(1.0));
    assert_eq!(found.cpus(), Some(3.0));
    let found = offer.find(&wanted("cpus:1"), "*").unwrap();
    assert_eq!(found.unreserved().cpus(), Some(1.0));
}

#[test]
fn find_carves_ranges_and_sets() {
    let mut offer = res(vec![
        ranges("ports", &[(31000, 31010)]),
        static_to(ranges("ports", &[(31011, 31020)]), "web"),
        set("zones", &["a", "b", "c"]),
    ]);
    let found = offer.find(&wanted("ports:[31002-31003]"), "*").unwrap();
    assert_eq!(found.ports(), vec![(31002, 31003)]);
    offer -= &found;
    assert_eq!(
        offer.unreserved().ports(),
        vec![(31000, 31001), (31004, 31010)]
    );
    assert_eq!(offer.find(&wanted("ports:[31003-31004]"), "*"), None);
    // One range over two resources: a piece of each, each keeping its own
    // reservation.
    let found = offer.find(&wanted("ports:[31009-31012]"), "web").unwrap();
    assert_eq!(found.unreserved().ports(), vec![(31009, 31010)]);
    assert_eq!(found.reserved(Some("web")).ports(), vec![(31011, 31012)]);

    let found = offer.find(&wanted("zones:{c,a}"), "*").unwrap();
    assert_eq!(found.set("zones"), vec!["a".to_string(), "c".to_string()]);
    assert_eq!(offer.find(&wanted("zones:{a,d}"), "*"), None);
}

#[test]
fn find_never_uses_special_resources() {
    let mut revocable = scalar("cpus", 4.0);
    revocable.revocable = Some(RevocableInfo {});
    let offer = res(vec![
        revocable.clone(),
        volume("v1", 100.0),
        mount_disk("/mnt/a", 100.0),
    ]);
    // Revocable resources only for revocable targets.
    assert_eq!(offer.find(&wanted("cpus:1"), "*"), None);
    revocable.scalar = Some(value::Scalar { value: 1.0 });
    let found = offer.find(&Resources::from(revocable), "*").unwrap();
    assert_eq!(found.revocable().cpus(), Some(1.0));
    // Disks with disk info are never split, and never found.
    assert_eq!(offer.find(&wanted("disk:10"), "db"), None);
    assert_eq!(offer.find(&res(vec![volume("v1", 100.0)]), "db"), None);
}

#[test]
fn property_find() {
    let mut rng = Rng(7);
    let mut hits = 0;
    for _ in 0..2000 {
        let offer = random_resources(&mut rng);
        // Unreserved targets, found as any role would look for them.
        let targets = random_resources(&mut rng).to_unreserved();
        let role = ["*", "web"][rng.below(2) as usize];
        match offer.find(&targets, role) {
            Some(found) => {
                hits += 1;
                assert!(offer.contains(&found), "{offer} should contain {found}");
                assert_eq!(
                    found.to_unreserved(),
                    targets,
                    "found {found} for {targets}"
                );
                let rest = &offer - &found;
                assert_eq!(&rest + &found, offer, "{offer} - {found} + {found}");
            }
            None => {
                // Only `*` may use every reservation; then nothing can be found
                // because the amounts are not there.
                if role == "*" {
                    assert!(!offer.to_unreserved().contains(&targets));
                }
            }
        }
        // Whatever is in the offer can be found in it.
        assert_eq!(offer.find(&offer, "*").as_ref(), Some(&offer));
    }
    assert!(hits > 100, "only {hits} hits");
}

/// A random resource under one of `kinds` names per type, so that a list
/// of them makes collections large enough to be indexed.
fn random_named_resource(rng: &mut Rng, kinds: u64) -> Resource {
    let mut r = random_resource(rng);
    r.name = format!("{}{}", r.name, rng.below(kinds));
    r
}

#[test]
fn property_large_collections_agree_with_small_ones() {
    // Collections past the indexing threshold must combine exactly as the
    // small per-name collections they split into.
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    for _ in 0..200 {
        let items: Vec<Resource> = (0..60)
            .map(|_| random_named_resource(&mut rng, 12))
            .collect();
        let big: Resources = items.iter().cloned().collect();
        let names = big.names();
        assert!(big.len() > INDEXED_ABOVE, "only {} entries", big.len());
        let per_name = |list: &[Resource], name: &str| -> Resources {
            list.iter().filter(|r| r.name == name).cloned().collect()
        };
        for name in &names {
            assert_eq!(big.get(name), per_name(&items, name), "{name} in {big}");
        }
        // Subtracting most of it goes back through the small form.
        let (gone, kept): (Vec<Resource>, Vec<Resource>) =
            items.iter().cloned().partition(|_| rng.below(5) != 0);
        let taken: Resources = gone.iter().cloned().collect();
        let rest = &big - &taken;
        for name in &names {
            let expected = &per_name(&items, name) - &per_name(&gone, name);
            assert_eq!(rest.get(name), expected, "{name} in {rest}");
        }
        assert!(big.contains(&rest));
        let kept: Resources = kept.into_iter().collect();
        assert!(big.contains(&kept));
        assert!((&big - &big).is_empty());
        // Allocation changes every merge key and none may merge; taking
        // it away again gives the same collection back.
        let mut allocated = big.clone();
        allocated.allocate("web");
        assert_eq!(allocated.len(), big.len());
        assert_eq!(allocated.allocated_to_role_subtree("web").len(), big.len());
        let mut back = allocated.clone();
        back.unallocate();
        assert_eq!(back, big);
        assert!(!allocated.contains(&big) || big.is_empty());
    }
}

#[test]
fn unallocating_mixed_roles_merges_what_only_the_role_kept_apart() {
    let mut web = res(vec![scalar("cpus", 1.0), ranges("ports", &[(1, 5)])]);
    web.allocate("web");
    let mut db = res(vec![scalar("cpus", 2.0), ranges("ports", &[(6, 9)])]);
    db.allocate("db");
    let mut both = &web + &db;
    assert_eq!(both.len(), 4);
    both.unallocate();
    assert_eq!(both.len(), 2);
    assert_eq!(both.cpus(), Some(3.0));
    assert_eq!(both.ports(), vec![(1, 9)]);
    both.allocate("eng");
    assert_eq!(both.len(), 2);
    assert_eq!(both.allocations().len(), 1);
}
