//! The plans a drill makes: readiness needs the secondary region in sync,
//! verify needs the whole env as it was before the drill.

use super::DrillError;
use crate::engine::Engine;
use crate::graph::StackGraph;
use crate::plan::{Action, Plan};
use crate::state::State;
use futures::future::BoxFuture;

/// The addresses a no-change plan would touch (empty: in sync).
pub type PlanProbe<'a> =
    Box<dyn Fn() -> BoxFuture<'a, Result<Vec<String>, DrillError>> + Send + Sync + 'a>;

/// Wraps an async closure as a [`PlanProbe`].
pub fn plan_probe<'a, F, Fut>(f: F) -> PlanProbe<'a>
where
    F: Fn() -> Fut + Send + Sync + 'a,
    Fut: std::future::Future<Output = Result<Vec<String>, DrillError>> + Send + 'a,
{
    Box::new(move || Box::pin(f()))
}

/// A [`PlanProbe`] that makes a refreshing plan of `graph` with `engine`
/// against `snapshot`: the state as it was before the drill (the drill
/// changes no resource entry, only its journal). `fresh` runs first in each
/// probe so that the plan reads the cloud anew (drctl-aws:
/// `Aws::forget_reads`). A failed plan is a [`DrillError::Cloud`] starting
/// `planning: `; the answer is [`plan_changes`].
pub fn engine_probe<'a, F>(
    engine: &'a Engine<'_>,
    graph: &'a StackGraph,
    snapshot: State,
    fresh: F,
) -> PlanProbe<'a>
where
    F: Fn() + Clone + Send + Sync + 'a,
{
    plan_probe(move || {
        let snapshot = snapshot.clone();
        let fresh = fresh.clone();
        async move {
            fresh();
            let plan = engine
                .plan(graph, &snapshot, true)
                .await
                .map_err(|e| DrillError::Cloud(format!("planning: {e}")))?;
            Ok(plan_changes(&plan))
        }
    })
}

/// What `plan` would change, one entry each, in plan order: `<address>
/// (<action>)` for every change that calls the cloud or adopts (the action
/// in lowercase: `update`, `noop` for an adoption alone), then `<address>
/// (forget)` for each state entry it would drop. Deposed objects are not
/// listed.
pub fn plan_changes(plan: &Plan) -> Vec<String> {
    let mut changes: Vec<String> = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp || c.adopt)
        .map(|c| {
            format!(
                "{} ({})",
                c.address,
                format!("{:?}", c.action).to_lowercase()
            )
        })
        .collect();
    changes.extend(plan.forget.iter().map(|a| format!("{a} (forget)")));
    changes
}
