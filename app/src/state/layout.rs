//! Lays out the supervision tree as the rows the tree panel draws: depth-first from the
//! processes nobody supervises, children in their supervisor's start order, collapsed nodes
//! skipped, and large groups of children folded into one "+N" row until the learner opens
//! them, a page at a time.
//!
//! The parent → children index is kept up to date from component changes, so laying out costs
//! the rows shown, not the processes that exist: 100,000 sockets folded into "+100000" cost
//! one row.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};

use bevy_ecs::prelude::*;
use crashcourse_runtime::Pid;

use super::components::{Parentage, PidIndex, ProcessId, SiblingOrder};

/// Children beyond this many are folded into one "+N" row.
pub const GROUP_LIMIT: usize = 50;

/// How many more children one click on a "+N" row shows.
pub const GROUP_PAGE: usize = 500;

/// A group of siblings: the children of a process, or (`None`) the top level.
pub type GroupKey = Option<Pid>;

/// Which nodes the learner collapsed, and how much of which large groups they opened.
#[derive(Resource, Debug, Default, Clone, PartialEq, Eq)]
pub struct TreeExpansion {
    pub collapsed: HashSet<Pid>,
    /// Groups opened, and how many of their children are shown.
    pub expanded_groups: HashMap<GroupKey, usize>,
}

impl TreeExpansion {
    /// Shows [`GROUP_PAGE`] more children of `group`.
    pub fn show_more(&mut self, group: GroupKey) {
        *self.expanded_groups.entry(group).or_default() += GROUP_PAGE;
    }
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
    /// Children of `parent` folded into one row: `hidden` of them, after `shown` listed above.
    Group {
        parent: GroupKey,
        depth: usize,
        hidden: usize,
        shown: usize,
    },
}

/// Where a process sits: its parent and its key among its siblings.
type Place = (GroupKey, (SiblingOrder, Pid));

/// Parent → children in start order, kept up to date from component changes.
#[derive(Resource, Debug, Default)]
pub struct TreeIndex {
    children: HashMap<GroupKey, BTreeMap<(SiblingOrder, Pid), Entity>>,
    placed: HashMap<Entity, Place>,
    /// Bumped on every change, so the layout knows when to run.
    pub changes: u64,
}

impl TreeIndex {
    /// Puts `entity` (process `pid`) under `parent` at `order`, moving it if it was elsewhere.
    pub fn place(&mut self, entity: Entity, pid: Pid, parent: Option<Pid>, order: SiblingOrder) {
        let parent = parent.filter(|p| *p != pid);
        let place = (parent, (order, pid));
        if self.placed.get(&entity) == Some(&place) {
            return;
        }
        self.remove(entity);
        self.children
            .entry(parent)
            .or_default()
            .insert(place.1, entity);
        self.placed.insert(entity, place);
        self.changes += 1;
    }

    /// Forgets `entity`.
    pub fn remove(&mut self, entity: Entity) {
        let Some((parent, key)) = self.placed.remove(&entity) else {
            return;
        };
        if let Some(siblings) = self.children.get_mut(&parent) {
            siblings.remove(&key);
            if siblings.is_empty() {
                self.children.remove(&parent);
            }
        }
        self.changes += 1;
    }

    /// How many children `pid` has.
    pub fn child_count(&self, pid: Pid) -> usize {
        self.children.get(&Some(pid)).map_or(0, BTreeMap::len)
    }

    /// The children of `group`, in start order.
    pub fn children_of(&self, group: GroupKey) -> impl Iterator<Item = (Pid, Entity)> + '_ {
        self.children
            .get(&group)
            .into_iter()
            .flat_map(|kids| kids.iter().map(|((_, pid), e)| (*pid, *e)))
    }
}

/// The rows of the tree, rebuilt when the index or the expansion changes.
#[derive(Resource, Debug, Default)]
pub struct TreeLayout {
    pub rows: Vec<TreeRow>,
    built_for: Option<u64>,
}

/// Processes whose place in the tree changed since the index last looked.
type Moved<'w, 's> = Query<
    'w,
    's,
    (
        Entity,
        &'static ProcessId,
        &'static Parentage,
        &'static SiblingOrder,
    ),
    Or<(Changed<Parentage>, Changed<SiblingOrder>)>,
>;

/// Keeps [`TreeIndex`] in step with parentage and sibling order.
pub fn index_supervision_tree(
    changed: Moved,
    mut removed: RemovedComponents<ProcessId>,
    mut index: ResMut<TreeIndex>,
) {
    for entity in removed.read() {
        index.remove(entity);
    }
    for (entity, pid, parentage, order) in &changed {
        index.place(entity, pid.0, parentage.parent, *order);
    }
}

/// Run condition: the tree must be laid out again.
pub fn tree_dirty(
    layout: Res<TreeLayout>,
    index: Res<TreeIndex>,
    expansion: Res<TreeExpansion>,
) -> bool {
    layout.built_for != Some(index.changes) || expansion.is_changed()
}

/// Rebuilds [`TreeLayout`] from the index.
pub fn layout_supervision_tree(
    index: Res<TreeIndex>,
    pids: Res<PidIndex>,
    expansion: Res<TreeExpansion>,
    mut layout: ResMut<TreeLayout>,
) {
    let layout = &mut *layout;
    layout.rows = lay_out(&index, |pid| pids.0.contains_key(&pid), &expansion);
    layout.built_for = Some(index.changes);
}

/// A step of the depth-first walk.
enum Step {
    Node(Pid, Entity, usize),
    Group(TreeRow),
}

/// The visible rows of `index` under `expansion`; `present` says which pids have a node (the
/// children of an absent parent are shown at the top level).
pub fn lay_out(
    index: &TreeIndex,
    present: impl Fn(Pid) -> bool,
    expansion: &TreeExpansion,
) -> Vec<TreeRow> {
    let mut roots: Vec<(Pid, Entity)> = index.children_of(None).collect();
    for (parent, kids) in &index.children {
        if parent.is_some_and(|p| !present(p)) {
            roots.extend(kids.iter().map(|((_, pid), e)| (*pid, *e)));
        }
    }
    roots.sort_by_key(|(pid, _)| *pid);

    let mut rows = Vec::new();
    // Depth-first without recursion: a deep chain of supervisors must not overflow the stack.
    let mut stack = Vec::new();
    push_group(
        &mut stack,
        None,
        roots.len(),
        roots.into_iter(),
        0,
        expansion,
    );
    while let Some(step) = stack.pop() {
        let (pid, entity, depth) = match step {
            Step::Group(row) => {
                rows.push(row);
                continue;
            }
            Step::Node(pid, entity, depth) => (pid, entity, depth),
        };
        let children = index.child_count(pid);
        let collapsed = expansion.collapsed.contains(&pid);
        rows.push(TreeRow::Process {
            entity,
            pid,
            depth,
            children,
            collapsed,
        });
        if collapsed || children == 0 {
            continue;
        }
        push_group(
            &mut stack,
            Some(pid),
            children,
            index.children_of(Some(pid)),
            depth + 1,
            expansion,
        );
    }
    rows
}

/// Pushes the children of `group` onto the walk, folding all past the shown ones into a row.
fn push_group(
    stack: &mut Vec<Step>,
    group: GroupKey,
    total: usize,
    kids: impl Iterator<Item = (Pid, Entity)>,
    depth: usize,
    expansion: &TreeExpansion,
) {
    let shown = if total > GROUP_LIMIT {
        expansion
            .expanded_groups
            .get(&group)
            .copied()
            .unwrap_or(0)
            .min(total)
    } else {
        total
    };
    if shown < total {
        stack.push(Step::Group(TreeRow::Group {
            parent: group,
            depth,
            hidden: total - shown,
            shown,
        }));
    }
    let first: Vec<Step> = kids
        .take(shown)
        .map(|(pid, e)| Step::Node(pid, e, depth))
        .collect();
    stack.extend(first.into_iter().rev());
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

    struct Tree {
        world: World,
        index: TreeIndex,
        present: HashSet<Pid>,
    }

    impl Tree {
        fn new() -> Tree {
            Tree {
                world: World::new(),
                index: TreeIndex::default(),
                present: HashSet::new(),
            }
        }

        fn node(&mut self, pid: u64, parent: Option<u64>) -> Entity {
            self.node_at(pid, parent, pid)
        }

        fn node_at(&mut self, pid: u64, parent: Option<u64>, order: u64) -> Entity {
            let entity = self.world.spawn_empty().id();
            let pid = Pid::from_id(pid);
            self.present.insert(pid);
            self.index.place(
                entity,
                pid,
                parent.map(Pid::from_id),
                SiblingOrder::of(Pid::from_id(order)),
            );
            entity
        }

        fn rows(&self, expansion: &TreeExpansion) -> Vec<TreeRow> {
            lay_out(&self.index, |p| self.present.contains(&p), expansion)
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
        let mut tree = Tree::new();
        tree.node(1, None);
        tree.node(5, Some(1));
        tree.node_at(9, Some(1), 3); // took over from pid 3
        tree.node(4, Some(1));
        tree.node(7, Some(99)); // its supervisor is not known: a root
        let rows = tree.rows(&TreeExpansion::default());
        assert_eq!(labels(&rows), vec!["1", "  9", "  4", "  5", "7"]);
    }

    #[test]
    fn moving_and_removing_a_node_updates_its_siblings() {
        let mut tree = Tree::new();
        tree.node(1, None);
        tree.node(2, None);
        let child = tree.node(3, Some(1));
        tree.index.place(
            child,
            Pid::from_id(3),
            Some(Pid::from_id(2)),
            SiblingOrder(3),
        );
        assert_eq!(
            labels(&tree.rows(&TreeExpansion::default())),
            vec!["1", "2", "  3"]
        );
        tree.index.remove(child);
        assert_eq!(
            labels(&tree.rows(&TreeExpansion::default())),
            vec!["1", "2"]
        );
        assert_eq!(tree.index.child_count(Pid::from_id(2)), 0);
    }

    #[test]
    fn a_collapsed_node_hides_its_children() {
        let mut tree = Tree::new();
        tree.node(1, None);
        tree.node(2, Some(1));
        let mut expansion = TreeExpansion::default();
        expansion.collapsed.insert(Pid::from_id(1));
        let rows = tree.rows(&expansion);
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
    fn more_than_fifty_children_fold_into_one_row_opened_a_page_at_a_time() {
        let mut tree = Tree::new();
        tree.node(1, None);
        for i in 0..(GROUP_LIMIT as u64 + 1) {
            tree.node(100 + i, Some(1));
        }
        let rows = tree.rows(&TreeExpansion::default());
        assert_eq!(labels(&rows), vec!["1".to_string(), "  +51".to_string()]);

        let mut expansion = TreeExpansion::default();
        expansion.show_more(Some(Pid::from_id(1)));
        assert_eq!(tree.rows(&expansion).len(), GROUP_LIMIT + 2);

        for i in 0..(GROUP_PAGE as u64) {
            tree.node(1000 + i, Some(1));
        }
        let rows = tree.rows(&expansion);
        assert_eq!(
            rows.len(),
            1 + GROUP_PAGE + 1,
            "a page, then the rest folded"
        );
        assert_eq!(
            rows.last(),
            Some(&TreeRow::Group {
                parent: Some(Pid::from_id(1)),
                depth: 1,
                hidden: GROUP_LIMIT + 1,
                shown: GROUP_PAGE,
            })
        );
    }

    #[test]
    fn thousands_of_top_level_processes_fold_too() {
        let mut tree = Tree::new();
        for i in 1..=2000 {
            tree.node(i, None);
        }
        let rows = tree.rows(&TreeExpansion::default());
        assert_eq!(labels(&rows), vec!["+2000"]);
    }

    #[test]
    fn natural_order_compares_digit_runs_as_numbers() {
        assert_eq!(natural_cmp("worker 2", "worker 10"), Ordering::Less);
        assert_eq!(natural_cmp("worker 10", "worker 10"), Ordering::Equal);
        assert_eq!(natural_cmp("a", "b"), Ordering::Less);
        assert_eq!(natural_cmp("session 007", "session 7"), Ordering::Equal);
    }
}
