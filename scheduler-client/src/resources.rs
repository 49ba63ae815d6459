//! Dividing an offer among tasks, in the offer's own resource format.
//!
//! The arithmetic (parsing `cpus:1;mem:128;ports:[31000-31001]`, finding
//! requested resources in an offer, all or nothing) is
//! `mesos_proto::resources`'s. This module only keeps what a client adds:
//! the part of one offer not yet given to tasks, and handing pieces back in
//! the format the master used for that offer (pre-reservation-refinement
//! for frameworks without `RESERVATION_REFINEMENT`), so that tasks echo the
//! offer exactly. It never decides which offer or how many tasks.

use mesos_proto::mesos::v1::Resource;
use mesos_proto::resources::Resources;

use crate::Error;

/// Parses what a task asks for, as upstream's `mesos-execute --resources`
/// does: `name[(role)]:value;...` (or a JSON array of `Resource`s), where a
/// `(role)` asks for resources reserved to that role only.
pub fn parse(text: &str) -> Result<Resources, Error> {
    Resources::parse(text, "*").map_err(|e| Error::Invalid(e.to_string()))
}

/// The part of an offer not yet given to tasks.
#[derive(Debug, Clone)]
pub struct OfferResources {
    remaining: Resources,
    /// The master wrote the offer in the pre-refinement format (`role` set
    /// on every resource), so pieces are handed back in it too.
    pre_refinement: bool,
}

impl OfferResources {
    /// Starts from everything the offer holds (either format).
    pub fn new(offered: &[Resource]) -> OfferResources {
        #[allow(deprecated)] // Pre-refinement offers carry `role`.
        let pre_refinement = offered.iter().any(|r| r.role.is_some());
        OfferResources {
            remaining: Resources::from(offered.to_vec()),
            pre_refinement,
        }
    }

    /// The total of scalar `name` still available (any reservation).
    pub fn scalar(&self, name: &str) -> f64 {
        self.remaining.scalar(name)
    }

    /// What is left.
    pub fn remaining(&self) -> &Resources {
        &self.remaining
    }

    /// Takes all of `wanted` or nothing (see `Resources::find`: resources
    /// reserved to `framework_role` first, then unreserved ones; with role
    /// `*` anything offered). The pieces keep the offered resources'
    /// reservations and allocation info, in the offer's format.
    pub fn take(&mut self, wanted: &Resources, framework_role: &str) -> Option<Vec<Resource>> {
        let found = self.remaining.find(wanted, framework_role)?;
        self.remaining -= &found;
        Some(if self.pre_refinement {
            found.to_pre_refinement()
        } else {
            found.into_vec()
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, deprecated)]
mod tests {
    use super::*;
    use mesos_proto::mesos::v1::resource::{reservation_info, ReservationInfo};
    use mesos_proto::mesos::v1::value;

    fn scalar(name: &str, value: f64) -> Resource {
        Resource {
            name: name.to_string(),
            r#type: value::Type::Scalar as i32,
            scalar: Some(value::Scalar { value }),
            ..Default::default()
        }
    }

    #[test]
    fn parses_the_flag_form_and_refuses_garbage() {
        let parsed =
            parse("cpus:1;mem:128; ports:[31000-31001, 31005-31005];zones:{a,b};gpus(ml):2")
                .unwrap();
        assert_eq!(parsed.cpus(), Some(1.0));
        assert_eq!(parsed.ports(), vec![(31000, 31001), (31005, 31005)]);
        assert_eq!(parsed.set("zones"), vec!["a".to_string(), "b".to_string()]);
        assert_eq!(parsed.reserved(Some("ml")).gpus(), Some(2.0));
        assert_eq!(parse("cpus:1;cpus:0.5").unwrap().cpus(), Some(1.5));
        for bad in [
            "cpus",
            "cpus:x",
            "ports:[5-1]",
            "ports:[1-2",
            "cpus(r:1",
            ":1",
            "cpus:-1",
        ] {
            assert!(parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn takes_all_or_nothing() {
        let mut offer = OfferResources::new(&[scalar("cpus", 1.0), scalar("mem", 100.0)]);
        let small = parse("cpus:0.3;mem:40").unwrap();
        assert!(offer.take(&small, "*").is_some());
        assert!(offer.take(&small, "*").is_some());
        // 0.4 cpus and 20 mem left: mem does not fit, so nothing is taken.
        assert!(offer.take(&small, "*").is_none());
        assert_eq!(offer.scalar("cpus"), 0.4);
        assert_eq!(offer.scalar("mem"), 20.0);
        assert_eq!(offer.remaining().len(), 2);
    }

    #[test]
    fn pieces_come_back_in_the_offer_format() {
        let reserved = |format_pre: bool| {
            let mut r = scalar("cpus", 1.0);
            if format_pre {
                r.role = Some("web".into());
            } else {
                r.reservations = vec![ReservationInfo {
                    r#type: Some(reservation_info::Type::Static as i32),
                    role: Some("web".into()),
                    ..Default::default()
                }];
            }
            r
        };
        let mut unreserved_pre = scalar("cpus", 4.0);
        unreserved_pre.role = Some("*".into());

        let mut post = OfferResources::new(&[scalar("cpus", 4.0), reserved(false)]);
        let taken = post.take(&parse("cpus:1.5").unwrap(), "web").unwrap();
        assert_eq!(taken.len(), 2);
        assert_eq!(taken[0].reservations.len(), 1);
        assert_eq!(taken[0].scalar.unwrap().value, 1.0);
        assert!(taken[1].reservations.is_empty());
        assert_eq!(taken[1].scalar.unwrap().value, 0.5);
        assert!(taken.iter().all(|r| r.role.is_none()));

        let mut pre = OfferResources::new(&[unreserved_pre, reserved(true)]);
        let taken = pre.take(&parse("cpus:1.5").unwrap(), "web").unwrap();
        assert_eq!(taken[0].role.as_deref(), Some("web"));
        assert_eq!(taken[1].role.as_deref(), Some("*"));
        assert!(taken.iter().all(|r| r.reservations.is_empty()));
        assert_eq!(pre.scalar("cpus"), 3.5);
    }
}
