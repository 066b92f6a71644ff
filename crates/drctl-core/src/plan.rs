//! Planning: read the cloud for every resource (all at once, checked in
//! dependency order: [`reads`]), compare with the desired stack, and decide
//! one action each.
//!
//! Planning never mutates the cloud or the state.

use crate::diff::{mark_drift, FieldChange};
use crate::graph::StackGraph;
use crate::model::{
    contains_unknown, resolve, Address, Observed, Props, ReadOutcome, ResourceSpec,
};
use crate::orphans::Orphan;
use crate::protection::{self, Blocked};
use crate::reconcile::{Ctx, ReconcileError, Registry};
use crate::state::State;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use thiserror::Error;

mod reads;
use reads::Seen;

/// Version of the plan document (`--json`, saved plans).
pub const PLAN_FORMAT_VERSION: &str = "1.0";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
/// What the plan decides for one resource (Terraform's actions and symbols).
pub enum Action {
    /// In sync: nothing to do (shown only with its drift, if any).
    NoOp,
    /// Not in the cloud: created.
    Create,
    /// Changed fields that can change in place: updated.
    Update,
    /// A field that cannot change in place changed (or `-replace`): a new object
    /// replaces the old one (delete first, or create first with
    /// [`ResourceChange::create_before_destroy`]).
    Replace,
    /// In the state but no longer in the stack, or a destroy: deleted.
    Delete,
}

impl Action {
    /// Terraform's symbol for the action.
    pub fn symbol(self) -> &'static str {
        match self {
            Action::NoOp => " ",
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
        }
    }
}

/// What will happen to one resource, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResourceChange {
    /// The resource's address in the stack.
    pub address: Address,
    /// The reconciler kind (`ec2:vpc`).
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// AWS region; `None` for global services (IAM, Route53).
    pub region: Option<String>,
    /// The resource's name (the alternate `-r` name for some replacements).
    pub name: String,
    /// What apply will do.
    pub action: Action,
    /// Found in the cloud by name or ownership tags but not in the state
    /// (e.g. created by a run that was killed): it is recorded, not recreated.
    #[serde(default)]
    pub adopt: bool,
    /// The change was caused by something done outside of drctl.
    #[serde(default)]
    pub drift: bool,
    #[serde(default)]
    /// Field by field, what differs (empty for create and delete).
    pub fields: Vec<FieldChange>,
    /// Why a replacement or deletion happens.
    #[serde(default)]
    pub reasons: Vec<String>,
    /// What the cloud has now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior: Option<Observed>,
    #[serde(default)]
    /// Addresses this one depends on: created before it, deleted after it.
    pub dependencies: Vec<Address>,
    /// For a replacement: the new object is created first, the old one is
    /// kept as *deposed* until its dependents have moved, then deleted
    /// (Terraform's `+/-`). Set for kinds that declare it and for the
    /// replaced resources they depend on.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub create_before_destroy: bool,
}

/// A deposed object the state records (the old half of a create-before-
/// destroy replacement a run did not finish): apply deletes it after the
/// address's dependents have moved; destroy deletes it with the rest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeposedChange {
    /// The address the deposed object was replaced at.
    pub address: Address,
    /// The state's deposed key.
    pub key: String,
    /// The reconciler kind of the old object.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// AWS region; `None` for global services.
    pub region: Option<String>,
    /// The old object's name.
    pub name: String,
    /// What the cloud has, read by the recorded id; `None`: it is already
    /// gone and apply only removes the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior: Option<Observed>,
    /// What the old object depended on (deleted before those).
    #[serde(default)]
    pub dependencies: Vec<Address>,
}

impl DeposedChange {
    /// The node name of this object in the executor's walks and in
    /// reports: `<address> (deposed <key>)`.
    pub fn node(&self) -> Address {
        deposed_node(&self.address, &self.key)
    }
}

/// See [`DeposedChange::node`].
pub fn deposed_node(address: &Address, key: &str) -> Address {
    Address::new(format!("{address} (deposed {key})"))
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
/// A plan: every decision for one env, bound to the state it was made
/// from. This is the `--json` document and what a saved plan holds; apply
/// refuses a saved plan whose `lineage` or `serial` no longer match the state.
pub struct Plan {
    /// [`PLAN_FORMAT_VERSION`].
    pub format_version: String,
    /// The env planned.
    pub env: String,
    /// The state's lineage when planned (a plan is never applied to another state).
    pub lineage: String,
    /// The state's serial when planned (a later write makes the plan stale).
    pub serial: u64,
    /// A plan made by `drctl destroy`.
    #[serde(default)]
    pub destroy: bool,
    /// One entry per resource in scope, in dependency order, no-ops included.
    pub changes: Vec<ResourceChange>,
    /// In the state but already gone from the cloud and from the plan:
    /// apply only forgets them.
    #[serde(default)]
    pub forget: Vec<Address>,
    #[serde(default)]
    /// Things the user should know that change no action (one sentence each).
    pub warnings: Vec<String>,
    /// Resources tagged with this env that neither the state nor the plan
    /// accounts for. Shown only: they never cause an action.
    #[serde(default)]
    pub orphans: Vec<Orphan>,
    /// Deposed objects to delete (or, when gone, to forget).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deposed: Vec<DeposedChange>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
/// The summary line's figures (`Plan: 3 to add, 1 to change, 2 to destroy.`).
pub struct Counts {
    /// Resources created: creates and replacements.
    pub add: usize,
    /// Resources updated in place.
    pub change: usize,
    /// Objects deleted: deletes, replacements, and deposed objects still in the cloud.
    pub destroy: usize,
    /// Resources found in the cloud and recorded in the state (Terraform's
    /// "to import"); one that also changes counts to change as well.
    pub import: usize,
    /// State entries dropped for objects already gone (Terraform's "to forget").
    pub forget: usize,
}

impl Plan {
    /// The summary's figures. A replacement counts once to add and once to
    /// destroy; a deposed object still in the cloud counts once to destroy.
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for ch in &self.changes {
            match ch.action {
                Action::Create => c.add += 1,
                Action::Update => c.change += 1,
                Action::Replace => {
                    c.add += 1;
                    c.destroy += 1
                }
                Action::Delete => c.destroy += 1,
                Action::NoOp => {}
            }
            c.import += usize::from(ch.adopt);
        }
        c.destroy += self.deposed.iter().filter(|d| d.prior.is_some()).count();
        c.forget = self.forget.len() + self.deposed.iter().filter(|d| d.prior.is_none()).count();
        c
    }

    /// True when applying would call the cloud or change the state.
    pub fn has_changes(&self) -> bool {
        !self.forget.is_empty()
            || !self.deposed.is_empty()
            || self
                .changes
                .iter()
                .any(|c| c.action != Action::NoOp || c.adopt)
    }

    /// The change planned for `address`, if it is in the plan.
    pub fn change(&self, address: &Address) -> Option<&ResourceChange> {
        self.changes.iter().find(|c| &c.address == address)
    }
}

#[derive(Debug, Error)]
/// Why no plan could be made; nothing was changed in the cloud or the state.
pub enum PlanError {
    #[error("could not read {} resource(s):\n{}", .0.len(), .0.iter().map(|(a, e)| format!("  {a}: {e}")).collect::<Vec<_>>().join("\n"))]
    /// Reads failed (every one is listed, with its address).
    Read(Vec<(Address, ReconcileError)>),
    #[error("{} name clash(es): resources drctl must create already exist without this env's ownership tags:\n{}", .0.len(), .0.iter().map(|(a, id, d)| format!("  {a}: {id} ({d})")).collect::<Vec<_>>().join("\n"))]
    /// Resources drctl would create exist without this env's ownership tags:
    /// (address, physical id, what their tags say). `drctl import` adopts them.
    Clash(Vec<(Address, String, String)>),
    #[error("{0} is neither in the stack nor in the state (see `drctl graph` or `drctl state list` for the addresses)")]
    /// A `-target` or `-replace` address that neither the stack nor the state has.
    UnknownAddress(Address),
    #[error("{} protected resource(s) would be deleted; nothing was changed:\n{}", .0.len(), .0.iter().map(|b| format!("  {b}")).collect::<Vec<_>>().join("\n"))]
    /// The plan would delete or replace resources with deletion protection on.
    Protected(Vec<Blocked>),
}

/// What a plan covers, beyond "everything, read from the cloud"
/// (Terraform's `-refresh=false`, `-target`, `-replace`).
#[derive(Clone, Debug, Default)]
pub struct PlanOptions {
    /// Read the cloud (true) or let the state stand in for it.
    pub refresh: bool,
    /// Plan only these resources and what they depend on (transitively);
    /// empty: everything. A target no longer in the stack but in the state
    /// is planned for deletion.
    pub targets: Vec<Address>,
    /// Replace these even when nothing forces it (shown as `-/+` with the reason).
    pub replace: Vec<Address>,
}

/// Why `-replace` replaces a resource, as the plan shows it.
pub const REPLACE_REQUESTED: &str = "replacement requested with -replace";

/// Makes plans; holds what every read needs.
pub struct Planner<'a> {
    /// The reconcilers by kind.
    pub registry: &'a Registry,
    /// The env and what every read needs to know ([`Ctx`]).
    pub cx: &'a Ctx,
    /// Most reads in flight at once (0 counts as 1; the CLI's `--parallelism`,
    /// 1–64, default 10 like Terraform's).
    pub parallelism: usize,
}

/// A spec for something that is in the state (or a pending record) but no
/// longer in the desired stack, so that it can be read and deleted.
fn spec_from_state(state: &State, address: &Address) -> Option<ResourceSpec> {
    if let Some(r) = state.resources.get(address) {
        return Some(ResourceSpec {
            address: address.clone(),
            kind: r.kind.clone(),
            region: r.region.clone(),
            name: r.name.clone(),
            props: r.applied.clone(),
            tags: BTreeMap::new(),
            depends_on: r.dependencies.clone(),
        });
    }
    state.pending.get(address).map(|p| ResourceSpec {
        address: address.clone(),
        kind: p.kind.clone(),
        region: p.region.clone(),
        name: p.name.clone(),
        props: Props::new(),
        tags: BTreeMap::new(),
        depends_on: vec![],
    })
}

/// The name the state records for `address`: of the current object, else of
/// an unfinished create.
fn recorded_name<'s>(state: &'s State, address: &Address) -> Option<&'s str> {
    state
        .resources
        .get(address)
        .map(|r| r.name.as_str())
        .or_else(|| state.pending.get(address).map(|p| p.name.as_str()))
}

impl Planner<'_> {
    /// Marks the replacements that create before they destroy: those whose
    /// kind declares it for that replacement
    /// ([`Reconciler::create_before_destroy_for`](crate::reconcile::Reconciler::create_before_destroy_for)),
    /// and (transitively) the replaced resources they depend on, whose old
    /// objects must outlive theirs.
    fn mark_create_before_destroy(&self, changes: &mut [ResourceChange]) {
        let index: BTreeMap<Address, usize> = changes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.address.clone(), i))
            .collect();
        let mut todo: Vec<usize> = changes
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                c.action == Action::Replace
                    && self
                        .registry
                        .get(&c.kind)
                        .is_ok_and(|r| r.create_before_destroy_for(&c.fields))
            })
            .map(|(i, _)| i)
            .collect();
        while let Some(i) = todo.pop() {
            if changes[i].create_before_destroy {
                continue;
            }
            changes[i].create_before_destroy = true;
            for dep in changes[i].dependencies.clone() {
                if let Some(&j) = index.get(&dep) {
                    if changes[j].action == Action::Replace && !changes[j].create_before_destroy {
                        todo.push(j);
                    }
                }
            }
        }
    }

    /// The plan that makes the cloud match `graph`.
    pub async fn plan(
        &self,
        graph: &StackGraph,
        state: &State,
        refresh: bool,
    ) -> Result<Plan, PlanError> {
        let options = PlanOptions {
            refresh,
            ..PlanOptions::default()
        };
        self.plan_with(graph, state, &options).await
    }

    /// [`plan`](Self::plan) narrowed or widened by `options`.
    pub async fn plan_with(
        &self,
        graph: &StackGraph,
        state: &State,
        options: &PlanOptions,
    ) -> Result<Plan, PlanError> {
        check_known(graph, state, options)?;
        let scope = targeted(graph, &options.targets);
        let (specs, extra) = specs_in_scope(graph, state, scope.as_ref());
        let seen = self.observe(&specs, state, options.refresh).await?;
        let mut changes = self.decide(graph, state, options, scope.as_ref(), &specs, &seen)?;
        let forget = removed(extra, &specs, &seen, &mut changes);
        self.refuse_protected(&changes, &specs)?;
        self.mark_create_before_destroy(&mut changes);
        let deposed = self
            .observe_deposed(state, scope.as_ref(), options.refresh)
            .await?;
        Ok(self.new_plan(state, false, changes, forget, vec![], deposed))
    }

    /// A plan of this env bound to `state`'s lineage and serial.
    fn new_plan(
        &self,
        state: &State,
        destroy: bool,
        changes: Vec<ResourceChange>,
        forget: Vec<Address>,
        warnings: Vec<String>,
        deposed: Vec<DeposedChange>,
    ) -> Plan {
        Plan {
            format_version: PLAN_FORMAT_VERSION.into(),
            env: self.cx.env.clone(),
            lineage: state.lineage.clone(),
            serial: state.serial,
            destroy,
            changes,
            forget,
            warnings,
            orphans: vec![],
            deposed,
        }
    }

    /// One change per resource of the stack in scope, in dependency order
    /// (each decided knowing what its dependencies' changes do to the
    /// values it refers to).
    ///
    /// # Errors
    /// [`PlanError::Clash`] listing every clash, after the whole stack was
    /// looked at; [`PlanError::Read`] for a kind without a reconciler.
    fn decide(
        &self,
        graph: &StackGraph,
        state: &State,
        options: &PlanOptions,
        scope: Option<&BTreeSet<Address>>,
        specs: &BTreeMap<Address, ResourceSpec>,
        seen: &Seen,
    ) -> Result<Vec<ResourceChange>, PlanError> {
        let mut changes: Vec<ResourceChange> = Vec::new();
        let mut actions: BTreeMap<Address, Action> = BTreeMap::new();
        let mut clashes = Vec::new();
        let in_scope = |a: &Address| scope.is_none_or(|s| s.contains(a));
        for spec in graph.in_order().filter(|s| in_scope(&s.address)) {
            let observed = self.found_or_clash(spec, seen.get(&spec.address), &mut clashes);
            let resolved = self.resolve_planned(spec, &actions, seen, specs);
            let in_state = state.resources.get(&spec.address);
            let change = match observed {
                None => create_change(spec, &resolved, in_state.is_some()),
                Some(o) => self.compare(spec, &resolved, o, in_state, options)?,
            };
            actions.insert(spec.address.clone(), change.action);
            changes.push(change);
        }
        if !clashes.is_empty() {
            return Err(PlanError::Clash(clashes));
        }
        Ok(changes)
    }

    /// What the read found for `spec`, if it is this env's; a clash is
    /// added to `clashes` (address, id, detail) and counts as not found.
    fn found_or_clash<'s>(
        &self,
        spec: &ResourceSpec,
        outcome: Option<&'s ReadOutcome>,
        clashes: &mut Vec<(Address, String, String)>,
    ) -> Option<&'s Observed> {
        match outcome {
            Some(ReadOutcome::Found(o)) => Some(o),
            Some(ReadOutcome::Clash { id, detail }) => {
                // A kind AWS cannot tag is this env's through what it
                // attaches to: when that clashed too, importing it makes
                // this one ours, so only that one is reported (kinds that
                // cannot be tagged never clash on their own).
                let through_parent = !self.registry.get(&spec.kind).is_ok_and(|r| r.taggable())
                    && spec
                        .dependencies()
                        .iter()
                        .any(|d| clashes.iter().any(|(a, _, _)| a == d));
                if !through_parent {
                    clashes.push((spec.address.clone(), id.clone(), detail.clone()));
                }
                None
            }
            _ => None,
        }
    }

    /// `spec` with its references resolved as apply will see them: values
    /// of resources about to be (re)created, or changed by their update,
    /// are unknown, except those a restore brings back as they were.
    fn resolve_planned(
        &self,
        spec: &ResourceSpec,
        actions: &BTreeMap<Address, Action>,
        seen: &Seen,
        specs: &BTreeMap<Address, ResourceSpec>,
    ) -> ResourceSpec {
        resolve_spec(spec, &|dep, attr| {
            match (actions.get(dep), seen.get(dep)) {
                (Some(Action::Create), Some(ReadOutcome::Restorable(o))) => {
                    return attr_of(o, attr)
                }
                (Some(Action::Create | Action::Replace), _) => return None,
                (Some(Action::Update), _) if self.changed_by_update(specs, dep, attr) => {
                    return None
                }
                _ => {}
            }
            match seen.get(dep) {
                Some(ReadOutcome::Found(o)) => attr_of(o, attr),
                _ => None,
            }
        })
    }

    /// The change for a resource the cloud has (`o`): no-op, update or
    /// replacement, field by field, with drift against what the state
    /// recorded and `-replace` honoured.
    fn compare(
        &self,
        spec: &ResourceSpec,
        resolved: &ResourceSpec,
        o: &Observed,
        in_state: Option<&crate::state::ResourceState>,
        options: &PlanOptions,
    ) -> Result<ResourceChange, PlanError> {
        let address = &spec.address;
        let reconciler = self
            .registry
            .get(&spec.kind)
            .map_err(|e| PlanError::Read(vec![(address.clone(), e)]))?;
        let mut fields = crate::reconcile::changes(&**reconciler, self.cx, resolved, o);
        mark_drift(&mut fields, in_state.map(|r| &r.applied));
        let mut reasons: Vec<String> = fields
            .iter()
            .filter_map(|f| {
                f.replace_reason
                    .as_ref()
                    .map(|r| format!("{}: {r}", f.field))
            })
            .collect();
        let requested = options.replace.contains(address);
        let action = if !reasons.is_empty() || requested {
            Action::Replace
        } else if !fields.is_empty() {
            Action::Update
        } else {
            Action::NoOp
        };
        if requested {
            reasons.push(REPLACE_REQUESTED.into());
        }
        Ok(ResourceChange {
            action,
            adopt: in_state.map(|r| r.id != o.id).unwrap_or(true),
            // Any field changed outside of drctl makes the resource drifted
            // (text, JSON and Markdown all read this one flag).
            drift: fields.iter().any(|f| f.drift),
            fields,
            reasons,
            prior: Some(o.clone()),
            ..base_change(spec)
        })
    }

    /// The plan that deletes everything this env owns: what the state
    /// records, what a killed run left pending, and what the desired stack
    /// names (found by name or ownership tags even if the state lost it).
    pub async fn plan_destroy(&self, graph: &StackGraph, state: &State) -> Result<Plan, PlanError> {
        let (specs, _) = specs_in_scope(graph, state, None);
        let seen = self.observe(&specs, state, true).await?;
        let mut changes = Vec::new();
        let mut forget = Vec::new();
        let mut warnings = Vec::new();
        for (a, s) in &specs {
            match seen.get(a) {
                Some(ReadOutcome::Found(o)) => changes.push(ResourceChange {
                    action: Action::Delete,
                    adopt: !state.resources.contains_key(a),
                    prior: Some(o.clone()),
                    ..base_change(s)
                }),
                Some(ReadOutcome::Clash { id, detail }) => warnings.push(format!(
                    "{a}: {id} is not owned by env '{}' ({detail}); left alone",
                    self.cx.env
                )),
                _ => {
                    if state.resources.contains_key(a) || state.pending.contains_key(a) {
                        forget.push(a.clone());
                    }
                }
            }
        }
        self.refuse_protected(&changes, &specs)?;
        let deposed = self.observe_deposed(state, None, true).await?;
        Ok(self.new_plan(state, true, changes, forget, warnings, deposed))
    }
}

/// The targets and everything they depend on, transitively; `None` when
/// there is no target (everything is in scope).
pub fn targeted(graph: &StackGraph, targets: &[Address]) -> Option<BTreeSet<Address>> {
    if targets.is_empty() {
        return None;
    }
    let mut scope = BTreeSet::new();
    let mut todo: Vec<Address> = targets.to_vec();
    while let Some(a) = todo.pop() {
        if scope.insert(a.clone()) {
            if let Some(spec) = graph.get(&a) {
                todo.extend(spec.dependencies());
            }
        }
    }
    Some(scope)
}

impl Planner<'_> {
    /// Refuses the whole plan when it would delete or replace a resource
    /// whose kind declares deletion protection and that has it on, in the
    /// cloud or in `specs` (the desired props, or the last applied ones for
    /// a removed resource).
    fn refuse_protected(
        &self,
        changes: &[ResourceChange],
        specs: &BTreeMap<Address, ResourceSpec>,
    ) -> Result<(), PlanError> {
        let blocked: Vec<Blocked> = changes
            .iter()
            .filter_map(|c| {
                let p = self.registry.get(&c.kind).ok()?.deletion_protection();
                protection::check(c, specs.get(&c.address).map(|s| &s.props), p, &self.cx.env)
            })
            .collect();
        if blocked.is_empty() {
            Ok(())
        } else {
            Err(PlanError::Protected(blocked))
        }
    }

    /// Whether updating `dep` can change its attribute `attr`.
    fn changed_by_update(
        &self,
        specs: &BTreeMap<Address, ResourceSpec>,
        dep: &Address,
        attr: &str,
    ) -> bool {
        specs
            .get(dep)
            .and_then(|s| self.registry.get(&s.kind).ok())
            .is_some_and(|r| r.attrs_changed_by_update().contains(&attr))
    }
}

/// `id` is the physical id; everything else comes from `attrs`.
pub fn attr_of(o: &Observed, attr: &str) -> Option<serde_json::Value> {
    if attr == "id" {
        Some(serde_json::Value::String(o.id.clone()))
    } else {
        o.attrs.get(attr).cloned()
    }
}

/// A copy of `spec` with every reference replaced by `lookup`'s value.
pub fn resolve_spec(
    spec: &ResourceSpec,
    lookup: &dyn Fn(&Address, &str) -> Option<serde_json::Value>,
) -> ResourceSpec {
    let mut out = spec.clone();
    out.props = spec
        .props
        .iter()
        .map(|(k, v)| (k.clone(), resolve(v, lookup)))
        .collect();
    out
}

/// True when any property is still unknown.
pub fn has_unknowns(spec: &ResourceSpec) -> bool {
    spec.props.values().any(contains_unknown)
}

/// Refuses a `-target` or `-replace` address that neither the stack nor
/// the state has.
fn check_known(graph: &StackGraph, state: &State, options: &PlanOptions) -> Result<(), PlanError> {
    let known = |a: &Address| {
        graph.get(a).is_some() || state.resources.contains_key(a) || state.pending.contains_key(a)
    };
    match options
        .targets
        .iter()
        .chain(&options.replace)
        .find(|a| !known(a))
    {
        Some(a) => Err(PlanError::UnknownAddress(a.clone())),
        None => Ok(()),
    }
}

/// The specs to read: the stack's in scope, and a spec (from the state)
/// for each recorded or pending resource in scope that the stack no longer
/// has; those addresses, the second value, are deleted or forgotten.
fn specs_in_scope(
    graph: &StackGraph,
    state: &State,
    scope: Option<&BTreeSet<Address>>,
) -> (BTreeMap<Address, ResourceSpec>, Vec<Address>) {
    let in_scope = |a: &Address| scope.is_none_or(|s| s.contains(a));
    let mut specs: BTreeMap<Address, ResourceSpec> = graph
        .in_order()
        .filter(|s| in_scope(&s.address))
        .map(|s| (s.address.clone(), s.clone()))
        .collect();
    let extra: Vec<Address> = state
        .resources
        .keys()
        .chain(state.pending.keys())
        .filter(|a| graph.get(a).is_none() && in_scope(a))
        .cloned()
        .collect();
    for a in &extra {
        if let Some(s) = spec_from_state(state, a) {
            // Dependencies outside the set are ignored by the walk.
            specs.insert(a.clone(), s);
        }
    }
    (specs, extra)
}

/// For the resources no longer in the stack (`extra`): a deletion for each
/// one the cloud still has (added to `changes`), and the rest, returned,
/// to forget.
fn removed(
    extra: Vec<Address>,
    specs: &BTreeMap<Address, ResourceSpec>,
    seen: &Seen,
    changes: &mut Vec<ResourceChange>,
) -> Vec<Address> {
    let mut forget = Vec::new();
    for a in extra {
        match seen.get(&a) {
            Some(ReadOutcome::Found(o)) => {
                let s = &specs[&a];
                changes.push(ResourceChange {
                    action: Action::Delete,
                    reasons: vec!["no longer in the environment plan".into()],
                    prior: Some(o.clone()),
                    dependencies: s.depends_on.clone(),
                    ..base_change(s)
                })
            }
            _ => forget.push(a),
        }
    }
    forget
}

/// The change that creates `spec` (every field from nothing to `resolved`'s
/// value); one the state records was deleted outside of drctl (drift).
fn create_change(spec: &ResourceSpec, resolved: &ResourceSpec, in_state: bool) -> ResourceChange {
    ResourceChange {
        action: Action::Create,
        fields: resolved
            .props
            .iter()
            .map(|(k, v)| FieldChange {
                field: k.clone(),
                before: None,
                after: Some(v.clone()),
                replace_reason: None,
                drift: false,
            })
            .collect(),
        drift: in_state,
        reasons: if in_state {
            vec!["deleted outside of drctl".into()]
        } else {
            vec![]
        },
        ..base_change(spec)
    }
}

/// A no-op change for `spec`: its identity and dependencies, nothing else.
fn base_change(spec: &ResourceSpec) -> ResourceChange {
    ResourceChange {
        address: spec.address.clone(),
        kind: spec.kind.clone(),
        region: spec.region.clone(),
        name: spec.name.clone(),
        action: Action::NoOp,
        adopt: false,
        drift: false,
        fields: vec![],
        reasons: vec![],
        prior: None,
        dependencies: spec.dependencies(),
        create_before_destroy: false,
    }
}
