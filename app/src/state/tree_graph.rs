//! The supervision tree as a picture: the outline's rows (same folding, same "+N" groups, same
//! collapsed nodes) placed as a layered top-down graph, and the restarts recently seen, so a
//! one_for_all or rest_for_one restart can mark every sibling it took down.
//!
//! Placing costs the rows the outline shows, not the processes that exist, and runs only when
//! those rows change.

use std::time::{Duration, Instant};

use bevy_ecs::prelude::*;
use crashcourse_runtime::{ExitReason, Pid};

use super::components::PidMap;
use super::layout::{TreeLayout, TreeRow};

/// How long a restarted node stays marked.
pub const RESTART_MARK: Duration = Duration::from_secs(4);

/// One node of the picture: the outline row it stands for and where it goes.
#[derive(Clone, Debug, PartialEq)]
pub struct GraphNode {
    /// Index into [`TreeLayout::rows`].
    pub row: usize,
    /// Column (in node widths; a parent sits midway over its children).
    pub x: f32,
    /// Layer (depth).
    pub layer: usize,
    /// The node's parent in the picture.
    pub parent: Option<usize>,
}

/// The placed nodes, rebuilt when the outline's rows change.
#[derive(Resource, Debug, Default)]
pub struct TreeGraph {
    pub nodes: Vec<GraphNode>,
    /// Columns used (the picture's width in node widths).
    pub width: f32,
    /// Layers used.
    pub layers: usize,
}

/// A restart the view model saw: why the old process ended, and when.
#[derive(Clone, Debug, PartialEq)]
pub struct SeenRestart {
    pub supervisor: Pid,
    pub old: Pid,
    /// The old process's exit as the supervisor reports it: `shutdown` for a sibling that the
    /// strategy (one_for_all, rest_for_one) took down with the one that failed.
    pub reason: ExitReason,
    pub seen: Instant,
}

impl SeenRestart {
    /// Taken down by its supervisor's strategy rather than failing itself.
    pub fn taken_down(&self) -> bool {
        self.reason == ExitReason::Shutdown
    }
}

/// Restarts seen recently, by the new pid.
#[derive(Resource, Debug, Default)]
pub struct RecentRestarts(pub PidMap<SeenRestart>);

impl RecentRestarts {
    /// The restart that started `pid`, while it is still worth marking at `now`.
    pub fn of(&self, pid: Pid, now: Instant) -> Option<&SeenRestart> {
        self.0
            .get(&pid)
            .filter(|r| now.saturating_duration_since(r.seen) < RESTART_MARK)
    }

    /// Records a restart and forgets those too old to be marked.
    pub fn record(&mut self, new: Pid, restart: SeenRestart) {
        let now = restart.seen;
        if self.0.len() > 1_000 {
            self.0
                .retain(|_, r| now.saturating_duration_since(r.seen) < RESTART_MARK);
        }
        self.0.insert(new, restart);
    }
}

/// Places the outline's rows as a layered tree when they changed.
pub fn place_tree_graph(layout: Res<TreeLayout>, mut graph: ResMut<TreeGraph>) {
    if !layout.is_changed() && !graph.nodes.is_empty() {
        return;
    }
    *graph = place(&layout.rows);
}

/// Leaves take consecutive columns left to right; a parent sits midway over its first and
/// last child. Rows come depth-first, so a row's parent is the last node one layer up.
pub fn place(rows: &[TreeRow]) -> TreeGraph {
    let mut nodes: Vec<GraphNode> = Vec::with_capacity(rows.len());
    let mut children: Vec<Vec<usize>> = Vec::with_capacity(rows.len());
    let mut last_at_depth: Vec<usize> = Vec::new();
    let mut layers = 0;
    for (i, row) in rows.iter().enumerate() {
        let depth = match row {
            TreeRow::Process { depth, .. } | TreeRow::Group { depth, .. } => *depth,
        };
        let parent = depth
            .checked_sub(1)
            .and_then(|d| last_at_depth.get(d).copied());
        let me = nodes.len();
        if let Some(p) = parent {
            children[p].push(me);
        }
        nodes.push(GraphNode {
            row: i,
            x: 0.0,
            layer: depth,
            parent,
        });
        children.push(Vec::new());
        last_at_depth.truncate(depth);
        last_at_depth.push(me);
        layers = layers.max(depth + 1);
    }
    // Children always come after their parent: placing from the last node back places every
    // child before its parent.
    let mut next_column = 0.0f32;
    let mut placed = vec![false; nodes.len()];
    // First the leaves, in row order (left to right).
    for i in 0..nodes.len() {
        if children[i].is_empty() {
            nodes[i].x = next_column;
            next_column += 1.0;
            placed[i] = true;
        }
    }
    for i in (0..nodes.len()).rev() {
        if placed[i] {
            continue;
        }
        let kids = &children[i];
        let (first, last) = (kids[0], kids[kids.len() - 1]);
        nodes[i].x = (nodes[first].x + nodes[last].x) / 2.0;
        placed[i] = true;
    }
    TreeGraph {
        nodes,
        width: next_column.max(1.0),
        layers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(n: u32, depth: usize) -> TreeRow {
        TreeRow::Process {
            entity: Entity::from_raw_u32(n).expect("a valid entity index"),
            pid: Pid::from_id(u64::from(n)),
            depth,
            children: 0,
            collapsed: false,
        }
    }

    #[test]
    fn parents_sit_over_their_children_and_leaves_take_columns_in_order() {
        let rows = vec![
            process(1, 0),
            process(2, 1),
            process(3, 2),
            process(4, 2),
            process(5, 1),
            TreeRow::Group {
                parent: Some(Pid::from_id(5)),
                depth: 2,
                hidden: 60,
                shown: 0,
            },
        ];
        let graph = place(&rows);
        let xs: Vec<f32> = graph.nodes.iter().map(|n| n.x).collect();
        assert_eq!(xs, vec![1.25, 0.5, 0.0, 1.0, 2.0, 2.0]);
        let parents: Vec<Option<usize>> = graph.nodes.iter().map(|n| n.parent).collect();
        assert_eq!(
            parents,
            vec![None, Some(0), Some(1), Some(1), Some(0), Some(4)]
        );
        assert_eq!((graph.width, graph.layers), (3.0, 3));
    }
}
