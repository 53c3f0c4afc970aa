//! Lays out the supervision tree as the rows the tree panel draws: depth-first from the
//! processes nobody supervises, children in their supervisor's start order, collapsed nodes
//! skipped, and large groups of children folded into one "+N" row until the learner expands
//! them.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use bevy_ecs::prelude::*;
use crashcourse_runtime::Pid;

use super::components::{Parentage, ProcessId, SiblingOrder, ViewGeneration};

/// Children beyond this many are folded into one "+N" row.
pub const GROUP_LIMIT: usize = 50;

/// Which nodes the learner collapsed, and which large groups they opened.
#[derive(Resource, Debug, Default, Clone, PartialEq, Eq)]
pub struct TreeExpansion {
    pub collapsed: HashSet<Pid>,
    pub expanded_groups: HashSet<Pid>,
}

/// One visible row of the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TreeRow {
    Process {
        entity: Entity,
        pid: Pid,
        depth: usize,
        /// Direct children (shown or not).
        children: usize,
        collapsed: bool,
    },
    /// The children of `parent` folded into one row.
    Group {
        parent: Pid,
        depth: usize,
        hidden: usize,
    },
}

/// The rows of the tree, rebuilt when processes or expansion change.
#[derive(Resource, Debug, Default)]
pub struct TreeLayout {
    pub rows: Vec<TreeRow>,
    built_for: Option<ViewGeneration>,
}

/// Run condition: the tree must be laid out again.
pub fn tree_dirty(
    layout: Res<TreeLayout>,
    generation: Res<ViewGeneration>,
    expansion: Res<TreeExpansion>,
) -> bool {
    layout.built_for != Some(*generation) || expansion.is_changed()
}

/// Rebuilds [`TreeLayout`] from parentage and labels.
pub fn layout_supervision_tree(
    processes: Query<(Entity, &ProcessId, &SiblingOrder, &Parentage)>,
    expansion: Res<TreeExpansion>,
    generation: Res<ViewGeneration>,
    mut layout: ResMut<TreeLayout>,
) {
    let nodes: Vec<Node> = processes
        .iter()
        .map(|(entity, pid, order, parentage)| Node {
            entity,
            pid: pid.0,
            order: *order,
            parent: parentage.parent,
        })
        .collect();
    let layout = &mut *layout;
    layout.rows = lay_out(&nodes, &expansion);
    layout.built_for = Some(*generation);
}

/// What layout needs of one process.
#[derive(Clone, Debug)]
pub struct Node {
    pub entity: Entity,
    pub pid: Pid,
    pub order: SiblingOrder,
    pub parent: Option<Pid>,
}

/// The visible rows for `nodes` under `expansion`.
pub fn lay_out(nodes: &[Node], expansion: &TreeExpansion) -> Vec<TreeRow> {
    let present: HashSet<Pid> = nodes.iter().map(|n| n.pid).collect();
    let mut children: HashMap<Pid, Vec<usize>> = HashMap::new();
    let mut roots = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        match node
            .parent
            .filter(|p| present.contains(p) && *p != node.pid)
        {
            Some(parent) => children.entry(parent).or_default().push(i),
            None => roots.push(i),
        }
    }
    for list in children.values_mut() {
        list.sort_by_key(|i| (nodes[*i].order, nodes[*i].pid));
    }
    roots.sort_by_key(|i| nodes[*i].pid);

    let mut rows = Vec::with_capacity(nodes.len().min(4096));
    // Depth-first without recursion: a deep chain of supervisors must not overflow the stack.
    let mut stack: Vec<(usize, usize)> = roots.iter().rev().map(|&i| (i, 0)).collect();
    while let Some((i, depth)) = stack.pop() {
        let node = &nodes[i];
        let kids = children.get(&node.pid).map_or(&[][..], |v| v.as_slice());
        let collapsed = expansion.collapsed.contains(&node.pid);
        rows.push(TreeRow::Process {
            entity: node.entity,
            pid: node.pid,
            depth,
            children: kids.len(),
            collapsed,
        });
        if collapsed || kids.is_empty() {
            continue;
        }
        if kids.len() > GROUP_LIMIT && !expansion.expanded_groups.contains(&node.pid) {
            rows.push(TreeRow::Group {
                parent: node.pid,
                depth: depth + 1,
                hidden: kids.len(),
            });
            continue;
        }
        stack.extend(kids.iter().rev().map(|&k| (k, depth + 1)));
    }
    rows
}

/// Compares labels so that "worker 2" sorts before "worker 10".
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a, b);
    loop {
        match (a.chars().next(), b.chars().next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let da = a.len() - a.trim_start_matches(|c: char| c.is_ascii_digit()).len();
                let db = b.len() - b.trim_start_matches(|c: char| c.is_ascii_digit()).len();
                let (na, nb) = (
                    a[..da].trim_start_matches('0'),
                    b[..db].trim_start_matches('0'),
                );
                let ord = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
                if ord != Ordering::Equal {
                    return ord;
                }
                a = &a[da..];
                b = &b[db..];
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(&y);
                }
                a = &a[x.len_utf8()..];
                b = &b[y.len_utf8()..];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(world: &mut World, pid: u64, parent: Option<u64>) -> Node {
        Node {
            entity: world.spawn_empty().id(),
            pid: Pid::from_id(pid),
            order: SiblingOrder::of(Pid::from_id(pid)),
            parent: parent.map(Pid::from_id),
        }
    }

    /// Each row as its pid number (or "+N"), indented by depth.
    fn labels(rows: &[TreeRow]) -> Vec<String> {
        rows.iter()
            .map(|r| match r {
                TreeRow::Process { pid, depth, .. } => {
                    format!("{}{}", "  ".repeat(*depth), pid.id())
                }
                TreeRow::Group { depth, hidden, .. } => format!("{}+{hidden}", "  ".repeat(*depth)),
            })
            .collect()
    }

    #[test]
    fn children_follow_their_parent_in_start_order_and_a_restart_keeps_its_place() {
        let mut world = World::new();
        let mut restarted = node(&mut world, 9, Some(1));
        restarted.order = SiblingOrder::of(Pid::from_id(3)); // took over from pid 3
        let nodes = vec![
            node(&mut world, 1, None),
            node(&mut world, 5, Some(1)),
            restarted,
            node(&mut world, 4, Some(1)),
            node(&mut world, 7, Some(99)), // its supervisor is not known: a root
        ];
        let rows = lay_out(&nodes, &TreeExpansion::default());
        assert_eq!(labels(&rows), vec!["1", "  9", "  4", "  5", "7"]);
    }

    #[test]
    fn a_collapsed_node_hides_its_children() {
        let mut world = World::new();
        let nodes = vec![node(&mut world, 1, None), node(&mut world, 2, Some(1))];
        let mut expansion = TreeExpansion::default();
        expansion.collapsed.insert(Pid::from_id(1));
        let rows = lay_out(&nodes, &expansion);
        assert_eq!(labels(&rows), vec!["1"]);
        assert!(matches!(
            rows[0],
            TreeRow::Process {
                collapsed: true,
                children: 1,
                ..
            }
        ));
    }

    #[test]
    fn more_than_fifty_children_fold_into_one_row_until_expanded() {
        let mut world = World::new();
        let mut nodes = vec![node(&mut world, 1, None)];
        for i in 0..(GROUP_LIMIT as u64 + 1) {
            nodes.push(node(&mut world, 100 + i, Some(1)));
        }
        let rows = lay_out(&nodes, &TreeExpansion::default());
        assert_eq!(labels(&rows), vec!["1".to_string(), "  +51".to_string()]);

        let mut expansion = TreeExpansion::default();
        expansion.expanded_groups.insert(Pid::from_id(1));
        assert_eq!(lay_out(&nodes, &expansion).len(), GROUP_LIMIT + 2);
    }

    #[test]
    fn natural_order_compares_digit_runs_as_numbers() {
        assert_eq!(natural_cmp("worker 2", "worker 10"), Ordering::Less);
        assert_eq!(natural_cmp("worker 10", "worker 10"), Ordering::Equal);
        assert_eq!(natural_cmp("a", "b"), Ordering::Less);
        assert_eq!(natural_cmp("session 007", "session 7"), Ordering::Equal);
    }
}
