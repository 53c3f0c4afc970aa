//! What the app keeps between runs (with eframe's storage): the open tab, the theme, the
//! dashboard's time window, the tree's zoom, and the last selection. Panel sizes and the
//! window's place are kept by eframe and egui themselves. Pids are not kept — they mean nothing in
//! the next run — but the selection's path of labels from its top supervisor down is, and the
//! process at the same place is selected again once it appears.

use bevy_ecs::world::World;
use crashcourse_runtime::Pid;
use serde::{Deserialize, Serialize};

use crate::egui;
use crate::panels::dashboard::TimeWindow;
use crate::panels::Tab;
use crate::state::components::{Identity, Parentage, PidIndex, ProcessId, ProcessStatus};

/// The state kept between runs.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(default)]
pub struct Persisted {
    pub tab: Tab,
    pub theme: egui::ThemePreference,
    pub window: TimeWindow,
    /// Labels from the top supervisor down to the selected process; empty for none.
    pub selection: Vec<String>,
    /// The tree's zoom (`None`: 100%).
    pub tree_zoom: Option<f32>,
}

/// Labels from the top of the tree down to `pid`.
pub fn label_path(world: &World, pid: Pid) -> Vec<String> {
    let index = world.resource::<PidIndex>();
    let mut path = Vec::new();
    let mut next = Some(pid);
    while let Some(pid) = next.take() {
        let Some(entity) = index.0.get(&pid).copied() else {
            break;
        };
        let Some(identity) = world.get::<Identity>(entity) else {
            break;
        };
        path.push(identity.label.to_string());
        next = world
            .get::<Parentage>(entity)
            .and_then(|p| p.parent)
            .filter(|p| *p != pid);
        if path.len() > 64 {
            break; // a cycle would be a bug elsewhere; do not spin on it
        }
    }
    path.reverse();
    path
}

/// A live process whose label path is `path`, if one is in the view.
pub fn find_by_path(world: &World, path: &[String]) -> Option<Pid> {
    let last = path.last()?;
    let mut query = world.try_query::<(&ProcessId, &Identity, &ProcessStatus)>()?;
    query
        .iter(world)
        .filter(|(_, identity, status)| status.is_alive() && *identity.label == **last)
        .map(|(pid, ..)| pid.0)
        .find(|pid| label_path(world, *pid) == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_persisted_state_survives_a_round_trip_and_missing_fields_take_defaults() {
        let state = Persisted {
            tab: Tab::Dashboard,
            theme: egui::ThemePreference::Light,
            window: TimeWindow::FifteenMinutes,
            selection: vec!["endpoint".into(), "rooms".into()],
            tree_zoom: Some(1.25),
        };
        let text = serde_json::to_string(&state).unwrap();
        assert_eq!(serde_json::from_str::<Persisted>(&text).unwrap(), state);
        let partial: Persisted = serde_json::from_str(r#"{"tab":"Warnings"}"#).unwrap();
        assert_eq!(partial.tab, Tab::Warnings);
        assert!(partial.selection.is_empty());
    }
}
