//! The one entry point to the engine: [`Engine`] holds what every plan and
//! apply needs (the reconcilers, the run's [`Ctx`], the parallelism, the
//! destroy-order rules, the stop flag) and offers the three operations a
//! caller makes: [`plan`](Engine::plan), [`plan_destroy`](Engine::plan_destroy)
//! and [`apply`](Engine::apply).
//!
//! It is a thin owner: each call builds a [`Planner`] or an [`Executor`] from
//! these settings, so the CLI, the benchmarks and the tests configure a run
//! in one place and never spell those structs out.

use crate::apply::{ApplyReport, Event, Executor};
use crate::graph::StackGraph;
use crate::ordering::DestroyRule;
use crate::plan::{Plan, PlanError, PlanOptions, Planner};
use crate::reconcile::{Ctx, Registry};
use crate::state::{State, StateStore};
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc::UnboundedSender;

/// Resources read or changed at once unless [`Engine::parallelism`] says
/// otherwise: Terraform's `-parallelism` default, and the CLI's.
pub const DEFAULT_PARALLELISM: usize = 10;

/// Plans and applies one env's stack. Cheap to clone (the registry holds
/// its reconcilers behind `Arc`s); a clone shares the stop flag.
///
/// # Examples
/// ```text
/// let engine = Engine::new(registry, Ctx::new("dev"))
///     .parallelism(4)
///     .destroy_rules(kinds::DESTROY_RULES);
/// let plan = engine.plan(&graph, &store.state, true).await?;
/// let report = engine.apply(&plan, &graph, Arc::new(Mutex::new(store))).await;
/// ```
#[derive(Clone)]
pub struct Engine<'a> {
    registry: Registry,
    cx: Ctx,
    parallelism: usize,
    rules: &'a [DestroyRule],
    stop: Arc<AtomicBool>,
}

impl<'a> Engine<'a> {
    /// An engine for the env of `cx` over `registry`: [`DEFAULT_PARALLELISM`],
    /// no destroy-order rules beyond the dependencies, a fresh stop flag.
    pub fn new(registry: Registry, cx: Ctx) -> Self {
        Engine {
            registry,
            cx,
            parallelism: DEFAULT_PARALLELISM,
            rules: &[],
            stop: Arc::new(AtomicBool::new(false)),
        }
    }

    /// At most `n` reads (plan) or changes (apply) in flight at once; 0
    /// counts as 1.
    pub fn parallelism(mut self, n: usize) -> Self {
        self.parallelism = n;
        self
    }

    /// The destroy-order rules (data, like `drctl_stack::kinds::DESTROY_RULES`)
    /// every apply and destroy follows on top of the dependencies.
    pub fn destroy_rules(mut self, rules: &'a [DestroyRule]) -> Self {
        self.rules = rules;
        self
    }

    /// Shares `stop` with the caller: once it is set, an apply starts
    /// nothing new and returns when the calls in flight have finished and
    /// been recorded (the first Ctrl-C).
    pub fn stop_flag(mut self, stop: Arc<AtomicBool>) -> Self {
        self.stop = stop;
        self
    }

    /// The same engine, with every finished read counted into `counter`
    /// (the CLI's "Reading… [40/76]" line).
    pub fn counting_reads(&self, counter: Arc<AtomicUsize>) -> Self {
        Engine {
            registry: self.registry.counting_reads(counter),
            ..self.clone()
        }
    }

    /// The reconcilers by kind.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The run's context (env, pending creates, deposed ids).
    pub fn cx(&self) -> &Ctx {
        &self.cx
    }

    /// The stop flag an apply watches (see [`stop_flag`](Self::stop_flag)).
    pub fn stop(&self) -> &Arc<AtomicBool> {
        &self.stop
    }

    fn planner(&self) -> Planner<'_> {
        Planner {
            registry: &self.registry,
            cx: &self.cx,
            parallelism: self.parallelism,
        }
    }

    fn executor(&self, events: Option<UnboundedSender<Event>>) -> Executor<'_> {
        Executor {
            registry: &self.registry,
            cx: self.cx.clone(),
            parallelism: self.parallelism,
            rules: self.rules,
            stop: self.stop.clone(),
            events,
        }
    }

    /// The plan that makes the cloud match `graph`, reading every resource
    /// (`refresh`) or letting `state` stand in for the cloud.
    ///
    /// # Errors
    /// [`PlanError`]: failed reads, name clashes, protected resources; the
    /// cloud and the state are unchanged.
    pub async fn plan(
        &self,
        graph: &StackGraph,
        state: &State,
        refresh: bool,
    ) -> Result<Plan, PlanError> {
        self.planner().plan(graph, state, refresh).await
    }

    /// [`plan`](Self::plan) narrowed by `-target`, widened by `-replace`.
    ///
    /// # Errors
    /// As [`plan`](Self::plan), and [`PlanError::UnknownAddress`] for a target
    /// that neither the stack nor the state has.
    pub async fn plan_with(
        &self,
        graph: &StackGraph,
        state: &State,
        options: &PlanOptions,
    ) -> Result<Plan, PlanError> {
        self.planner().plan_with(graph, state, options).await
    }

    /// The plan that deletes everything this env owns (state, pending
    /// records, and what `graph` names and the cloud has).
    ///
    /// # Errors
    /// As [`plan`](Self::plan).
    pub async fn plan_destroy(&self, graph: &StackGraph, state: &State) -> Result<Plan, PlanError> {
        self.planner().plan_destroy(graph, state).await
    }

    /// Applies `plan` (made from `graph` and the state in `store`), saving
    /// the state after every step. Never fails as a whole: what failed, and
    /// what was skipped because a dependency failed, is in the report.
    pub async fn apply(
        &self,
        plan: &Plan,
        graph: &StackGraph,
        store: Arc<Mutex<StateStore>>,
    ) -> ApplyReport {
        self.executor(None).apply(plan, graph, store).await
    }

    /// [`apply`](Self::apply), sending an [`Event`] as each resource starts
    /// and finishes (the progress renderer's input).
    pub async fn apply_reporting(
        &self,
        plan: &Plan,
        graph: &StackGraph,
        store: Arc<Mutex<StateStore>>,
        events: UnboundedSender<Event>,
    ) -> ApplyReport {
        self.executor(Some(events)).apply(plan, graph, store).await
    }
}
