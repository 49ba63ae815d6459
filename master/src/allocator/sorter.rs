//! Dominant resource fairness with running totals (upstream's DRF sorter,
//! made incremental).
//!
//! The role tree holds, per role, the resources allocated to its subtree
//! and to the frameworks subscribed to it directly. Each node keeps its
//! children (and a virtual leaf for its own frameworks) in a `BTreeSet`
//! ordered by weighted dominant share, and each role keeps its frameworks
//! ordered by dominant share. An allocation changes the shares of one
//! framework and of the role's ancestors only, so it re-positions
//! `depth + 1` entries at `O(log n)` each; nothing is re-sorted in bulk
//! except when the cluster total or the weights change (every share then
//! changes), which [`RoleTree::refresh`] does once, lazily, before a cycle.
//!
//! Only active clients are in the ordered sets: a framework that is
//! inactive or has suppressed the role, and a role whose subtree has no
//! such framework, cost nothing to walk.

use std::cmp::Ordering;
use std::collections::{btree_set, BTreeSet, HashMap};

use super::quantities::{Qty, SlotMap};
use super::Role;

/// A share as a totally ordered key.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Share(pub f64);

impl Eq for Share {}

impl PartialOrd for Share {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Share {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// The slot of a role's own frameworks among its children's.
pub const OWN: u32 = u32::MAX;

/// A framework's entry in the sorter of one role.
#[derive(Debug, Default)]
struct Client {
    allocation: Qty,
    active: bool,
    key: Share,
}

impl Default for Share {
    fn default() -> Self {
        Share(0.0)
    }
}

/// One role (or the root, index 0).
#[derive(Debug)]
pub struct RoleNode {
    pub role: Role,
    pub parent: Option<u32>,
    pub weight: f64,
    /// Scalars allocated to the subtree (for shares).
    pub allocation: Qty,
    /// Unreserved non-revocable scalars allocated to the subtree (quota
    /// consumption, with `reserved`).
    pub allocation_unreserved: Qty,
    /// Scalars reserved to the subtree on all agents, allocated or not.
    pub reserved: Qty,
    /// Scalars allocated to frameworks subscribed to this role directly.
    own_allocation: Qty,
    /// Active frameworks of this role (directly) and of the subtree.
    own_active: u32,
    subtree_active: u32,
    key: Share,
    own_key: Share,
    children: BTreeSet<(Share, u32)>,
    clients: SlotMap<u32, Client>,
    order: BTreeSet<(Share, u32)>,
}

impl RoleNode {
    fn new(role: Role, parent: Option<u32>, weight: f64) -> Self {
        RoleNode {
            role,
            parent,
            weight,
            allocation: Qty::default(),
            allocation_unreserved: Qty::default(),
            reserved: Qty::default(),
            own_allocation: Qty::default(),
            own_active: 0,
            subtree_active: 0,
            key: Share::default(),
            own_key: Share::default(),
            children: BTreeSet::new(),
            clients: SlotMap::default(),
            order: BTreeSet::new(),
        }
    }

    /// Frameworks of this role, lowest dominant share first.
    pub fn frameworks(&self) -> impl Iterator<Item = u32> + '_ {
        self.order.iter().map(|(_, f)| *f)
    }

    /// The framework's dominant share within the role.
    pub fn framework_share(&self, framework: u32) -> f64 {
        self.clients.get(&framework).map_or(0.0, |c| c.key.0)
    }

    /// Some descendant role has active frameworks.
    pub fn has_active_children(&self) -> bool {
        self.children.iter().any(|(_, child)| *child != OWN)
    }

    /// The role's weighted share among its siblings.
    pub fn share(&self) -> f64 {
        self.key.0
    }

    /// Frameworks are subscribed to this role directly (it is in the role
    /// sorter, in upstream's terms).
    pub fn has_frameworks(&self) -> bool {
        !self.clients.is_empty()
    }

    /// The weighted dominant share of what frameworks of this role itself
    /// (not its subroles) hold, fresh against `total`.
    pub fn own_share(&self, total: &Qty) -> f64 {
        self.own_allocation.share(total) / self.weight
    }

    /// What frameworks of this role itself hold.
    pub fn own_allocation(&self) -> &Qty {
        &self.own_allocation
    }
}

/// See the module documentation.
#[derive(Debug)]
pub struct RoleTree {
    nodes: Vec<RoleNode>,
    index: HashMap<Role, u32>,
}

impl Default for RoleTree {
    fn default() -> Self {
        RoleTree {
            nodes: vec![RoleNode::new(Role::new(""), None, 1.0)],
            index: HashMap::new(),
        }
    }
}

impl RoleTree {
    pub const ROOT: u32 = 0;

    pub fn node(&self, index: u32) -> &RoleNode {
        &self.nodes[index as usize]
    }

    pub fn node_mut(&mut self, index: u32) -> &mut RoleNode {
        &mut self.nodes[index as usize]
    }

    /// Every role node (the root excluded) with its index.
    pub fn roles(&self) -> impl Iterator<Item = (u32, &RoleNode)> + '_ {
        self.nodes
            .iter()
            .enumerate()
            .skip(1)
            .map(|(index, node)| (index as u32, node))
    }

    pub fn get(&self, role: &Role) -> Option<u32> {
        self.index.get(role).copied()
    }

    /// The node of `role`, created with its ancestors when missing.
    pub fn ensure(&mut self, role: &Role, weight: &dyn Fn(&Role) -> f64) -> u32 {
        if let Some(index) = self.get(role) {
            return index;
        }
        let parent = match role.parent() {
            Some(parent) => self.ensure(&parent, weight),
            None => Self::ROOT,
        };
        let index = self.nodes.len() as u32;
        self.nodes
            .push(RoleNode::new(role.clone(), Some(parent), weight(role)));
        self.index.insert(role.clone(), index);
        index
    }

    /// `index` and its ancestors up to (excluding) the root.
    pub fn path(&self, index: u32) -> impl Iterator<Item = u32> + '_ {
        let mut next = Some(index);
        std::iter::from_fn(move || {
            let current = next?;
            if current == Self::ROOT {
                return None;
            }
            next = self.nodes[current as usize].parent;
            Some(current)
        })
    }

    /// Adds a framework to a role's sorter (inactive).
    pub fn add_client(&mut self, role: u32, framework: u32) {
        self.node_mut(role).clients.entry(framework).or_default();
    }

    /// Removes a framework from a role's sorter; its allocation must have
    /// been removed first.
    pub fn remove_client(&mut self, role: u32, framework: u32, total: &Qty) {
        self.set_active(role, framework, false, total);
        self.node_mut(role).clients.remove(&framework);
    }

    /// Includes or excludes a framework from its role's ordering.
    pub fn set_active(&mut self, role: u32, framework: u32, active: bool, total: &Qty) {
        let node = &mut self.nodes[role as usize];
        let Some(client) = node.clients.get_mut(&framework) else {
            return;
        };
        if client.active == active {
            return;
        }
        client.active = active;
        if active {
            client.key = Share(client.allocation.share(total));
            node.order.insert((client.key, framework));
            node.own_active += 1;
        } else {
            node.order.remove(&(client.key, framework));
            node.own_active -= 1;
        }
        if node.own_active == u32::from(active) {
            // The virtual leaf appears or disappears among the children.
            let key = Share(node.own_allocation.share(total) / node.weight);
            node.own_key = key;
            if active {
                node.children.insert((key, OWN));
            } else {
                node.children.remove(&(key, OWN));
            }
        }
        for index in self.path(role).collect::<Vec<_>>() {
            let node = &mut self.nodes[index as usize];
            let was = node.subtree_active;
            if active {
                node.subtree_active += 1;
            } else {
                node.subtree_active -= 1;
            }
            let now_active = node.subtree_active > 0;
            if (was > 0) == now_active {
                continue;
            }
            let key = Share(node.allocation.share(total) / node.weight);
            let previous = node.key;
            node.key = key;
            let parent = node.parent.unwrap_or(Self::ROOT);
            let siblings = &mut self.nodes[parent as usize].children;
            if now_active {
                siblings.insert((key, index));
            } else {
                siblings.remove(&(previous, index));
            }
        }
    }

    /// Adds (`sign > 0`) or removes an allocation of `framework` in `role`.
    pub fn allocate(
        &mut self,
        role: u32,
        framework: u32,
        all: &Qty,
        unreserved: &Qty,
        total: &Qty,
        add: bool,
    ) {
        let node = &mut self.nodes[role as usize];
        let client = node.clients.entry(framework).or_default();
        if add {
            client.allocation.add(all);
            node.own_allocation.add(all);
        } else {
            client.allocation.sub(all);
            node.own_allocation.sub(all);
        }
        if client.active {
            let key = Share(client.allocation.share(total));
            if key != client.key {
                node.order.remove(&(client.key, framework));
                node.order.insert((key, framework));
                client.key = key;
            }
        }
        if node.own_active > 0 {
            let key = Share(node.own_allocation.share(total) / node.weight);
            if key != node.own_key {
                node.children.remove(&(node.own_key, OWN));
                node.children.insert((key, OWN));
                node.own_key = key;
            }
        }
        let mut current = role;
        while current != Self::ROOT {
            let node = &mut self.nodes[current as usize];
            if add {
                node.allocation.add(all);
                node.allocation_unreserved.add(unreserved);
            } else {
                node.allocation.sub(all);
                node.allocation_unreserved.sub(unreserved);
            }
            let parent = node.parent.unwrap_or(Self::ROOT);
            let key = Share(node.allocation.share(total) / node.weight);
            let previous = node.key;
            let listed = node.subtree_active > 0;
            node.key = key;
            if listed && key != previous {
                let siblings = &mut self.nodes[parent as usize].children;
                siblings.remove(&(previous, current));
                siblings.insert((key, current));
            }
            current = parent;
        }
    }

    /// Recomputes every key (after the cluster total or weights changed).
    pub fn refresh(&mut self, total: &Qty) {
        for node in &mut self.nodes {
            node.children.clear();
            node.order.clear();
            for (framework, client) in &mut node.clients {
                client.key = Share(client.allocation.share(total));
                if client.active {
                    node.order.insert((client.key, *framework));
                }
            }
            node.key = Share(node.allocation.share(total) / node.weight);
            node.own_key = Share(node.own_allocation.share(total) / node.weight);
            if node.own_active > 0 {
                node.children.insert((node.own_key, OWN));
            }
        }
        for index in 1..self.nodes.len() {
            let node = &self.nodes[index];
            if node.subtree_active > 0 {
                let entry = (node.key, index as u32);
                let parent = node.parent.unwrap_or(Self::ROOT);
                self.nodes[parent as usize].children.insert(entry);
            }
        }
    }

    /// Roles under `start` (itself included) that have active frameworks,
    /// in DRF order: the subtree with the lowest weighted share first,
    /// recursively.
    pub fn walk(&self, start: u32) -> Walk<'_> {
        let node = self.node(start);
        let mut stack = Vec::new();
        if start == Self::ROOT || node.subtree_active > 0 {
            stack.push((start, node.children.iter()));
        }
        Walk { tree: self, stack }
    }
}

/// Iterator of [`RoleTree::walk`].
pub struct Walk<'a> {
    tree: &'a RoleTree,
    stack: Vec<(u32, btree_set::Iter<'a, (Share, u32)>)>,
}

impl Iterator for Walk<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        loop {
            let (node, children) = self.stack.last_mut()?;
            let node = *node;
            match children.next() {
                None => {
                    self.stack.pop();
                }
                Some((_, OWN)) => return Some(node),
                Some((_, child)) => {
                    let iter = self.tree.node(*child).children.iter();
                    self.stack.push((*child, iter));
                }
            }
        }
    }
}
