//! Random kills across a supervision tree leave it where OTP would: children restored, or the
//! failure escalated exactly when a supervisor's intensity is exceeded.

mod support;

use std::sync::Arc;
use std::time::Duration;

use crashcourse_runtime::supervisor::{
    self, ChildInfo, ChildSpec, Intensity, Restart, Strategy, SupervisorSpec,
};
use crashcourse_runtime::{Ctx, Handle, ManualClock, Pid, Runtime, RuntimeConfig, SpawnOpts};
use proptest::prelude::*;
use support::wait_for;

const T: Duration = Duration::from_secs(5);
const PERIOD: Duration = Duration::from_secs(5);

/// The tree: top (one_for_one, intensity 2) over two supervisors with three workers each.
/// `strategies` picks the two inner strategies; worker restart types vary by position.
fn restart_of(i: usize) -> Restart {
    match i {
        0 => Restart::Permanent,
        1 => Restart::Transient,
        _ => Restart::Permanent,
    }
}

fn idle_worker(id: String) -> ChildSpec {
    ChildSpec::worker(id, |ctx: Ctx| async move {
        ctx.recv_match(|m| m.is::<&str>()).await;
    })
}

fn tree(strategies: [Strategy; 2], max_inner: u32) -> SupervisorSpec {
    let mut top = SupervisorSpec::new(Strategy::OneForOne, Intensity::new(2, PERIOD));
    for (s, strategy) in strategies.into_iter().enumerate() {
        top = top.child(ChildSpec::supervisor(format!("sup{s}"), move || {
            let mut spec = SupervisorSpec::new(strategy, Intensity::new(max_inner, PERIOD));
            for w in 0..3 {
                spec = spec.child(idle_worker(format!("w{s}.{w}")).restart(restart_of(w)));
            }
            spec
        }));
    }
    top
}

/// What OTP would do, step by step.
struct Model {
    strategies: [Strategy; 2],
    max_inner: u32,
    now: Duration,
    top_restarts: Vec<Duration>,
    inner_restarts: [Vec<Duration>; 2],
    top_alive: bool,
}

impl Model {
    /// Records a restart at `now`; true if that exceeds `max`.
    fn over(log: &mut Vec<Duration>, now: Duration, max: u32) -> bool {
        log.push(now);
        log.retain(|t| now.saturating_sub(*t) < PERIOD);
        log.len() as u32 > max
    }

    /// A worker of supervisor `s` is killed.
    fn kill(&mut self, s: usize) {
        if Model::over(&mut self.inner_restarts[s], self.now, self.max_inner) {
            // The inner supervisor gives up; top restarts it (fresh intensity), unless top
            // itself goes over.
            self.inner_restarts[s].clear();
            if Model::over(&mut self.top_restarts, self.now, 2) {
                self.top_alive = false;
            }
        }
        let _ = self.strategies;
    }
}

fn children(h: &Handle, sup: Pid) -> Option<Vec<ChildInfo>> {
    h.block_on(supervisor::which_children(h, sup, T)).ok()
}

/// The tree is whole: top alive with two running supervisors, each with three running workers.
fn whole(h: &Handle, top: Pid) -> Option<Vec<Vec<Pid>>> {
    let subs = children(h, top)?;
    let mut all = Vec::new();
    for s in subs {
        let workers = children(h, s.pid?)?;
        let pids: Option<Vec<Pid>> = workers.iter().map(|w| w.pid).collect();
        let pids = pids?;
        if pids.len() != 3 || !pids.iter().all(|p| h.is_alive(*p)) {
            return None;
        }
        all.push(pids);
    }
    (all.len() == 2).then_some(all)
}

fn strategy() -> impl proptest::strategy::Strategy<Value = Strategy> {
    prop_oneof![
        Just(Strategy::OneForOne),
        Just(Strategy::OneForAll),
        Just(Strategy::RestForOne)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_kills_leave_the_tree_as_otp_would(
        strategies in [strategy(), strategy()],
        max_inner in 1u32..4,
        // (which inner supervisor, which worker, seconds to advance the clock first)
        kills in proptest::collection::vec((0usize..2, 0usize..3, 0u64..4), 1..14),
    ) {
        let clock = Arc::new(ManualClock::new());
        let rt = Runtime::start(RuntimeConfig::default().with_clock(clock.clone()));
        let top = supervisor::start(&rt, SpawnOpts::new().label("top"), tree(strategies, max_inner)).unwrap();
        let mut model = Model {
            strategies,
            max_inner,
            now: Duration::ZERO,
            top_restarts: Vec::new(),
            inner_restarts: [Vec::new(), Vec::new()],
            top_alive: true,
        };
        let mut state = wait_for("the tree to start", || whole(&rt, top));
        for (s, w, secs) in kills {
            clock.advance(Duration::from_secs(secs));
            model.now += Duration::from_secs(secs);
            let victim = state[s][w];
            let others: Vec<Pid> = state[s].iter().copied().filter(|p| *p != victim).collect();
            rt.kill(victim).unwrap();
            model.kill(s);
            if !model.top_alive {
                wait_for("top to give up", || (!rt.is_alive(top)).then_some(()));
                break;
            }
            // Wait until the killed worker has been replaced and the tree is whole again.
            let next = wait_for("the tree to heal", || {
                whole(&rt, top).filter(|t| !t[s].contains(&victim))
            });
            prop_assert!(rt.is_alive(top));
            // Which siblings were restarted depends on the strategy (unless the inner
            // supervisor itself was replaced, which restarts all of them).
            let inner_replaced = children(&rt, top).unwrap()[s].restarts > 0
                && next[s].iter().all(|p| !state[s].contains(p));
            if !inner_replaced {
                let kept: Vec<usize> = (0..3).filter(|&i| next[s][i] == state[s][i]).collect();
                let expected_kept: Vec<usize> = match strategies[s] {
                    Strategy::OneForOne => (0..3).filter(|&i| i != w).collect(),
                    Strategy::OneForAll => vec![],
                    Strategy::RestForOne => (0..w).collect(),
                };
                prop_assert_eq!(kept, expected_kept);
            }
            let _ = others;
            state = next;
        }
        prop_assert_eq!(rt.is_alive(top), model.top_alive);
    }
}
