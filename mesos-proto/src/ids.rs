//! Typed ids for the entities the daemons keep state about: frameworks,
//! executors, tasks, containers and agents, and the roles they run as.
//!
//! The wire carries these as `{ value: string }` messages; state keyed by a
//! bare `String` lets a framework id be looked up where an executor id was
//! meant. These types are cheap to clone (a shared `str`), order and hash
//! like their text, and borrow as `str`, so a map keyed by them is still
//! looked up with the `&str` taken out of a decoded message.
//!
//! Owns the types and their conversions to and from the protobuf messages;
//! never validates an id's content (that is the caller's rule to apply).

use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

macro_rules! typed_id {
    // An id the wire carries in a `{ value }` message: the text type plus
    // conversions to and from that message.
    ($(#[$doc:meta])* $name:ident, $proto:ty) => {
        typed_id!($(#[$doc])* $name);

        impl $name {
            /// The protobuf message carrying this id.
            pub fn to_proto(&self) -> $proto {
                <$proto>::from(self)
            }
        }

        impl From<&$proto> for $name {
            fn from(value: &$proto) -> Self {
                $name::new(&value.value)
            }
        }

        impl From<&$name> for $proto {
            // One macro for messages with and without fields besides `value`.
            #[allow(clippy::field_reassign_with_default)]
            fn from(value: &$name) -> Self {
                let mut proto = <$proto>::default();
                proto.value = value.0.to_string();
                proto
            }
        }
    };
    // An id the wire carries as a bare string (a role).
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(Arc<str>);

        impl $name {
            pub fn new(value: &str) -> Self {
                $name(Arc::from(value))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                $name::new(value)
            }
        }

        impl From<&String> for $name {
            fn from(value: &String) -> Self {
                $name::new(value)
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                $name(Arc::from(value))
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                &*self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                &*self.0 == *other
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), &*self.0)
            }
        }
    };
}

typed_id!(
    /// A framework id (`FrameworkID`).
    FrameworkId,
    crate::mesos::FrameworkId
);
typed_id!(
    /// An executor id (`ExecutorID`); unique within its framework.
    ExecutorId,
    crate::mesos::ExecutorId
);
typed_id!(
    /// A task id (`TaskID`); unique within its framework.
    TaskId,
    crate::mesos::TaskId
);
typed_id!(
    /// A container id (`ContainerID.value`, top-level containers only).
    ContainerId,
    crate::mesos::ContainerId
);
typed_id!(
    /// An agent id (`SlaveID`).
    AgentId,
    crate::mesos::SlaveId
);
typed_id!(
    /// A role (`*`, `eng`, `eng/web`): a path in the role tree.
    Role
);

impl Role {
    /// `eng` for `eng/web`; `None` for a top-level role.
    pub fn parent(&self) -> Option<Role> {
        self.0.rfind('/').map(|at| Role::new(&self.0[..at]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn maps_keyed_by_ids_are_looked_up_by_text() {
        let mut map = BTreeMap::new();
        map.insert(FrameworkId::new("b"), 2);
        map.insert(FrameworkId::new("a"), 1);
        assert_eq!(map.get("a"), Some(&1));
        assert_eq!(
            map.keys().map(FrameworkId::as_str).collect::<Vec<_>>(),
            ["a", "b"]
        );
    }

    #[test]
    fn ids_round_trip_through_their_messages() {
        let proto = crate::mesos::ContainerId {
            value: "c1".into(),
            parent: None,
        };
        let id = ContainerId::from(&proto);
        assert_eq!(id, "c1");
        assert_eq!(id.to_proto(), proto);
        assert_eq!(format!("{id}"), "c1");
        assert_eq!(format!("{id:?}"), "ContainerId(\"c1\")");
    }
}
