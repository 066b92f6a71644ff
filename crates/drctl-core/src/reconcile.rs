//! The contract between the engine and one kind of cloud resource.
//!
//! Guarantees the engine gives a reconciler:
//! - `create` is called only after `read` found nothing, with an idempotency
//!   token that was written to the state *before* the call and is the same
//!   if the process is killed and the next run retries.
//! - `update` and `delete` are called only on resources `read` returned as
//!   [`ReadOutcome::Found`], that is, carrying this env's ownership tags.
//!
//! What a reconciler must guarantee:
//! - `read` looks up by physical id when given one, else by deterministic
//!   name or ownership tags, and never guesses: several matches are
//!   [`ReconcileError::Ambiguous`]; a same-named resource without the
//!   ownership tags is [`ReadOutcome::Clash`].
//! - Ownership tags are set in the create call itself.
//! - Every operation is idempotent: deleting what is gone succeeds.
//! - Nothing secret is ever put in `props` or `attrs`.

use crate::diff::{diff_props, tags_change, FieldChange, TagWrites};
use crate::model::{Address, Observed, ReadOutcome, ResourceSpec};
pub use crate::protection::DeletionProtection;
use crate::schedule::{ExpectedDuration, DEFAULT_SECS};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use thiserror::Error;

/// How an AWS error should be handled; one table in the AWS crate maps
/// error codes to these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// A transient failure (5xx, transport error, resource busy). Produced by
    /// `drctl_aws::errors::classify`/`api_error`; consumed by the AWS retry
    /// helper (`drctl_aws::retry::call` under a `Policy` that lists it:
    /// `TRANSIENT`, `PROPAGATION`) and by `recover` (the call may have taken
    /// effect, so the resource is looked for before a second create).
    Retryable,
    /// AWS asked to slow down (Throttling, RequestLimitExceeded, ...).
    /// Produced by `classify`; consumed like `Retryable`, and retried without
    /// it by the policies for calls that must not be repeated once they may
    /// have gone through (`Policy::AFTER_CREATE`, `Policy::THROTTLING`).
    Throttled,
    /// The resource (or one the call names) does not exist, or not yet.
    /// Produced by `classify`; consumed by `errors::found`/`gone` (a read
    /// answers "absent", a delete counts as done) and by the retries of a
    /// call on a fresh resource (`Policy::AFTER_CREATE`, `Policy::PROPAGATION`).
    NotFound,
    /// A create found the name or token taken. Produced by `classify`;
    /// consumed by `recover` (adopt our own resource after a lost answer) and
    /// by reconcilers that look up the existing resource.
    AlreadyExists,
    /// AWS refuses a delete while something still uses the resource.
    /// Produced by `classify`; consumed by the delete-until-unblocked waits
    /// (subnets, security groups, VPCs, zones, ...) that retry until it clears.
    DependencyViolation,
    /// Anything else: not retried, reported with its operation and code.
    /// Produced by `classify` (the default) and by every non-API
    /// [`ReconcileError`]; no helper retries it, the executor reports it.
    Fatal,
}

/// Why one reconciler call failed. The message (`Display`) is what the plan
/// or apply summary shows for the resource, so each variant names what the
/// user can act on; [`ReconcileError::class`] says how the engine treats it.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ReconcileError {
    /// An AWS API call failed after the SDK's own retries.
    #[error("{operation}: {code}: {message}")]
    Api {
        /// The API operation, as AWS names it (`CreateVpc`).
        operation: String,
        /// How the engine treats it (the AWS crate's code table decides).
        class: ErrorClass,
        /// AWS's error code (`DependencyViolation`), or the SDK's kind of
        /// failure (`dispatch failure`) when no response came.
        code: String,
        /// AWS's message, as it came (no secret is ever in a request).
        message: String,
    },
    /// A read by name or tags found more than one candidate: drctl never
    /// guesses which one is its own.
    #[error("several resources match {address}: {}; remove the extra ones or record the right one in the state", .ids.join(", "))]
    Ambiguous {
        /// The resource's address in the stack.
        address: String,
        /// The physical ids of every match.
        ids: Vec<String>,
    },
    /// A resource at this address exists without this env's ownership tags;
    /// it is never modified or deleted (see `drctl import`).
    #[error("{id} exists but does not carry the ownership tags of env '{env}' at {address}; drctl will not modify or delete it ({detail})")]
    NotOwned {
        /// The resource's address in the stack.
        address: String,
        /// The physical id of the resource found.
        id: String,
        /// This run's env (the `drctl:env` tag the resource lacks).
        env: String,
        /// What the resource carries instead (another env's tags, none).
        detail: String,
    },
    /// A wait (ready, deleted, unblocked) ran past its named timeout.
    #[error("timed out after {secs}s waiting for {what}")]
    Timeout {
        /// What was awaited, as a sentence fragment (`NAT gateway nat-… to be available`).
        what: String,
        /// The timeout that ran out, in seconds (a named constant in the AWS crate).
        secs: u64,
    },
    /// The resolved spec of `address` is wrong at `field` (a missing or
    /// mistyped property, a value AWS cannot take). Produced by reconcilers
    /// (`drctl_aws::props::config`); the user fixes the plan file or
    /// blueprint. Shown as `<address>: <message>`.
    #[error("{address}: {message}")]
    Config {
        /// The resource's address in the stack.
        address: String,
        /// The property at fault (`az_index`, `primary.domain`).
        field: String,
        /// What is wrong, in the user's terms, naming the field.
        message: String,
    },
    /// AWS refuses to delete the resource while its deletion protection is
    /// on. Produced by a reconciler's `delete` when the protection is on
    /// (the plan-time refusal of [`crate::protection`] is the usual guard;
    /// this is the last one, at the call); consumed by the executor, which
    /// reports it and retries nothing. The user turns the protection off as
    /// `how_to_disable` says.
    #[error("{what} ({address}) has deletion protection on, so it cannot be deleted. To delete it: {how_to_disable}")]
    DeletionProtected {
        /// The resource's address in the stack.
        address: String,
        /// The resource in AWS's words (`DB instance trading-db-dev`).
        what: String,
        /// What the user does to turn the protection off, one sentence.
        how_to_disable: String,
    },
    /// AWS took the create, but the resource ended in a failed state (a NAT
    /// gateway `failed`, a load balancer `failed`): AWS's reason says what to
    /// fix (a VPC without an internet gateway, no free addresses in a
    /// subnet, a quota). Produced by the reconcilers' ready waits; consumed
    /// by the executor, which reports it (not retried: waiting longer
    /// cannot change a failed state).
    #[error("{what} is {state} instead of becoming available: {reason}")]
    Failed {
        /// The resource in AWS's words, with its id or address
        /// (`NAT gateway nat-0a1b…`).
        what: String,
        /// The state AWS reports (`failed`).
        state: String,
        /// AWS's failure code and message, as they came.
        reason: String,
    },
    /// A setting of the environment plan file is wrong in a way only the
    /// cloud can tell (a `hosted_zone_id` that does not exist, a
    /// `domain_name` outside that zone). Produced by the checks drctl makes
    /// before planning (`drctl_aws::route53::hosted_zone::check_existing`);
    /// consumed by the CLI, which puts the plan file's path before the
    /// message. The message names the key, its value and what to do.
    #[error("{message}")]
    PlanSetting {
        /// The plan file's key (`hosted_zone_id`).
        key: String,
        /// What is wrong and what to do, naming the key.
        message: String,
    },
    /// Not the user's spec and not an AWS error answer: an expectation drctl
    /// holds about itself or about AWS's answers broke (an answer without
    /// the id it must carry, a worker that panicked, an operation the kind
    /// does not support). The message says what happened.
    #[error("{0}")]
    Internal(String),
    /// The run's AWS environment is unusable before any resource is looked
    /// at: no credentials, credentials AWS refuses, an endpoint that does
    /// not answer. Produced by the AWS crate's first call of a run (the
    /// account lookup, `drctl_aws::Aws::account_id`); consumed by the CLI,
    /// which reports it and exits 1. Nothing was changed; the message names
    /// what to set or check.
    #[error("{0}")]
    Environment(String),
    /// The stack has a kind the registry has no reconciler for (a wiring
    /// bug, caught by the planner before any call).
    #[error("no reconciler registered for kind '{0}'")]
    NoReconciler(String),
}

impl ReconcileError {
    /// How the engine treats this error: an API error's own class; every
    /// other variant is [`ErrorClass::Fatal`] (no retry can change it).
    pub fn class(&self) -> ErrorClass {
        match self {
            ReconcileError::Api { class, .. } => *class,
            _ => ErrorClass::Fatal,
        }
    }
}

/// What every call gets to know about the run.
#[derive(Clone, Debug, Default)]
pub struct Ctx {
    /// The env name: the value of the `drctl:env` ownership tag.
    pub env: String,
    /// Idempotency tokens of the creates the state records as started but
    /// not finished (a killed run), by address. Set by the planner for
    /// `read`: a resource that carries its address's token (a Route53
    /// `CallerReference`, ...) is drctl's own even before it is tagged.
    pub pending_creates: Arc<BTreeMap<Address, String>>,
    /// Physical ids of deposed objects (old halves of create-before-destroy
    /// replacements), by address. They still carry their address's
    /// ownership tags: a read or a look-up by tags must skip them, or it
    /// would take the old object for the new one.
    pub deposed: Arc<BTreeMap<Address, Vec<String>>>,
    /// Set by `drctl import` only ([`crate::import`]): a read by id reports
    /// a resource that carries no ownership tags (or only this env's, for
    /// another address or none) as `Found`, with its tags, instead of a
    /// clash, so that the import can compare it with the spec before tagging
    /// it. A resource carrying another env's tags stays a clash.
    pub adopting: bool,
}

impl Ctx {
    /// A context for `env` with no pending creates, no deposed objects and
    /// adoption off: what plan and apply start from.
    pub fn new(env: impl Into<String>) -> Self {
        Ctx {
            env: env.into(),
            pending_creates: Arc::default(),
            deposed: Arc::default(),
            adopting: false,
        }
    }

    /// Whether `id` is a deposed object of `address` (to be deleted, never
    /// taken for the current object).
    pub fn is_deposed(&self, address: &Address, id: &str) -> bool {
        self.deposed
            .get(address)
            .is_some_and(|ids| ids.iter().any(|d| d == id))
    }

    /// The token of an unfinished create of `address`, if the state has one.
    pub fn pending_create(&self, address: &Address) -> Option<&str> {
        self.pending_creates.get(address).map(String::as_str)
    }
}

/// One resource kind's whole life against the cloud: read, diff, create,
/// update, delete, wait until ready. Implemented once per kind in the AWS
/// crate (and by the fake cloud in `testing`); the engine calls it through a
/// [`Registry`], possibly from several tasks at once for different
/// resources, never twice at once for the same address.
///
/// The module documentation lists the guarantees each side gives; each
/// method's `# Guarantees` / `# Must` / `# Errors` sections are the detail.
#[async_trait]
pub trait Reconciler: Send + Sync {
    /// The kind this reconciler handles, e.g. `ec2:vpc`.
    fn kind(&self) -> &'static str;

    /// Fields that cannot change in place, with the reason the plan shows.
    fn replace_on(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }

    /// Terraform's `create_before_destroy`, as a property of the kind: a
    /// replacement creates the new object first, records the old one as
    /// *deposed*, lets the dependents move to the new one (update or
    /// replace), and deletes the old one last. For kinds whose dependents
    /// keep them in use, so that AWS refuses to delete them first (a health
    /// check its records point at: `HealthCheckInUse`; a target group a
    /// listener forwards to: `ResourceInUse`; a security group or subnet
    /// whose ENIs are in use: `DependencyViolation`). The planner extends it
    /// to the replaced resources such a kind depends on (as Terraform does).
    fn create_before_destroy(&self) -> bool {
        false
    }

    /// [`create_before_destroy`](Self::create_before_destroy) for one
    /// planned replacement, given its field changes. For a kind whose old
    /// and new objects can exist side by side only in some replacements: a
    /// subnet moving to a new VPC is created first (the Auto Scaling
    /// group's instances keep the old one busy, `DependencyViolation`,
    /// until the group has moved to the new one), but one staying in its
    /// VPC is not (the same CIDR block cannot exist twice there:
    /// `InvalidSubnet.Conflict`). Defaults to the kind's rule.
    fn create_before_destroy_for(&self, fields: &[FieldChange]) -> bool {
        let _ = fields;
        self.create_before_destroy()
    }

    /// Whether two objects of this kind cannot share `spec.name` (a target
    /// group's name is unique in its region). A create-before-destroy
    /// replacement then names the new object [`alternate_name`], as the old
    /// one still holds the name.
    fn name_is_unique(&self) -> bool {
        false
    }

    /// Attributes an in-place update can change (e.g. a launch template's
    /// `latest_version`). While this resource is planned for update, its
    /// dependents see these as unknown, so their own change is planned and
    /// made in the same apply.
    fn attrs_changed_by_update(&self) -> &'static [&'static str] {
        &[]
    }

    /// The deletion protection this kind can carry: a plan that would delete
    /// or replace a resource with it on (observed or desired) is refused
    /// before anything is deleted (see [`crate::protection`]).
    fn deletion_protection(&self) -> Option<DeletionProtection> {
        None
    }

    /// Looks the resource up: by `known_id` (from the state) when given,
    /// else by deterministic name or ownership tags.
    ///
    /// # Guarantees
    /// Called by the planner for every resource of the stack and the state,
    /// and by the executor after a call whose outcome is unknown
    /// ([`crate::recover`]). `known_id` is the id the state recorded; `cx`
    /// lists pending create tokens and deposed ids.
    ///
    /// # Must
    /// Make no change. Return [`ReadOutcome::NotFound`] when nothing matches
    /// (a `NotFound` for a known id is absence, not an error);
    /// [`ReadOutcome::Clash`] for a same-named resource without this env's
    /// ownership tags (unless `cx.adopting`); never return a deposed object
    /// ([`Ctx::is_deposed`]); report `props` in the spec's shape so that
    /// [`diff`](Self::diff) compares like with like, and tags under
    /// [`crate::diff::TAGS`] for a taggable kind.
    ///
    /// # Errors
    /// [`ReconcileError::Ambiguous`] for several matches; `Api` for a failed
    /// call (the plan fails for this resource and shows the message).
    async fn read(
        &self,
        cx: &Ctx,
        spec: &ResourceSpec,
        known_id: Option<&str>,
    ) -> Result<ReadOutcome, ReconcileError>;

    /// Whether this kind carries tags. A taggable kind's `read` reports the
    /// resource's tags in `Observed::props` under [`crate::diff::TAGS`], and
    /// it implements [`write_tags`](Self::write_tags); the engine diffs them
    /// ([`changes`]).
    fn taggable(&self) -> bool {
        false
    }

    /// Makes the tag writes the diff computed, with its service's tag calls
    /// (CreateTags/DeleteTags, TagResource/UntagResource, ...). Called only
    /// on a resource `read` found owned, and only when `writes` is not
    /// empty. `spec.tags` is the whole desired set, for services that replace
    /// all tags at once.
    async fn write_tags(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        _current: &Observed,
        _writes: &TagWrites,
    ) -> Result<(), ReconcileError> {
        Err(ReconcileError::Internal(format!(
            "{}: kind {} cannot be tagged",
            spec.address,
            self.kind()
        )))
    }

    /// Desired vs. observed, field by field: one [`FieldChange`] per prop
    /// that differs, flagged `replace` when it is in
    /// [`replace_on`](Self::replace_on). Pure (no call); the default compares
    /// every desired prop with [`diff_props`]. Override only for props whose
    /// observed form differs from the desired one (defaults AWS fills in,
    /// reordered lists). An empty result means no update is planned.
    fn diff(&self, spec: &ResourceSpec, observed: &Observed) -> Vec<FieldChange> {
        diff_props(&spec.props, &observed.props, self.replace_on())
    }

    /// Creates the resource and returns what it is now (its id and attrs).
    ///
    /// # Guarantees
    /// Called only after `read` found nothing for this address, with the
    /// references in `spec.props` resolved to real values. `token` (32 hex
    /// characters) was written to the state as a pending create *before* the
    /// call; after a kill, the next run passes the same token. A transient
    /// error is followed by a re-read ([`crate::recover`]) before any second
    /// call, so a create that took effect is adopted, not repeated.
    ///
    /// # Must
    /// Put the ownership tags ([`ResourceSpec::tags`]) on in the create call
    /// itself (or in the same request batch), so that no moment exists where
    /// the resource is in the cloud but not findable as ours. Pass `token` as
    /// the API's idempotency token where it has one (`ClientToken`,
    /// `CallerReference`). Return as soon as the id is known; waiting for
    /// readiness belongs in [`wait_ready`](Self::wait_ready), after the id is
    /// recorded. Never put a secret in the returned `props` or `attrs`.
    ///
    /// # Errors
    /// `Api` with the class from the error table: `Retryable`/`Throttled`
    /// and `AlreadyExists` make the engine re-read and adopt or retry; any
    /// other class fails this resource, its dependents are skipped and the
    /// rest of the apply goes on.
    async fn create(
        &self,
        cx: &Ctx,
        spec: &ResourceSpec,
        token: &str,
    ) -> Result<Observed, ReconcileError>;

    /// Changes the resource in place and returns what it is now.
    ///
    /// # Guarantees
    /// Called only on a resource `read` returned as [`ReadOutcome::Found`]
    /// (owned by this env), with `current` as read and `changes` the fields
    /// to change in place: never a replacement, never the `tags` change (that
    /// goes to [`write_tags`](Self::write_tags), see [`make_changes`]). After
    /// a transient error the resource is re-read and re-diffed before a
    /// retry: an update is never repeated blindly.
    ///
    /// # Must
    /// Change only the fields in `changes`; make each call safe to repeat
    /// (use [`crate::recover::request_token`] where the API takes a token).
    ///
    /// # Errors
    /// As [`create`](Self::create); a `Fatal` error leaves the resource as
    /// it is recorded, and the next plan shows the change again.
    async fn update(
        &self,
        cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError>;

    /// Deletes the resource, waiting until AWS no longer refuses it.
    ///
    /// # Guarantees
    /// Called only on a resource this env owns (found by `read`, or a deposed
    /// object the state recorded), after every dependent's delete has
    /// finished and after the kind's destroy-order rules
    /// ([`crate::ordering`]) are met. Never called for a resource with its
    /// deletion protection on ([`crate::protection`]: refused at plan time).
    ///
    /// # Must
    /// Succeed when the resource is already gone (`NotFound` is done), so
    /// that a retry or a rerun after a kill converges. Retry a
    /// `DependencyViolation` until it clears within the kind's named timeout
    /// (ENIs, mapped addresses); return when the delete is accepted, or
    /// when it is finished where dependents' deletes need that.
    ///
    /// # Errors
    /// `Timeout` naming what still blocks it; `Api` as for
    /// [`create`](Self::create). On error the resource stays in the state.
    async fn delete(
        &self,
        cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
    ) -> Result<(), ReconcileError>;

    /// Whether `drctl import` can adopt this kind ([`crate::import`]): one
    /// rule, every taggable kind (ownership is a tag, and the kind's own
    /// [`write_tags`](Self::write_tags) puts it on). The clash report
    /// suggests `drctl import` exactly for these.
    fn importable(&self) -> bool {
        self.taggable()
    }

    /// The physical id `drctl import ADDR ID` means, from what the user gave
    /// (the form `terraform import` takes for the kind, see the README):
    /// most kinds take it as is; a kind whose API accepts several spellings
    /// (a hosted zone's `/hostedzone/` prefix) returns the one it records.
    fn import_id(&self, given: &str) -> String {
        given.to_string()
    }

    /// Blocks until the resource is usable by its dependents (NAT available,
    /// ALB active). The default returns at once.
    ///
    /// # Guarantees
    /// Called right after [`create`](Self::create) succeeded and its result
    /// was recorded in the state, so a kill during the wait loses nothing:
    /// the next run reads the resource by its recorded id. Dependents start
    /// only after it returns.
    ///
    /// # Must
    /// Poll with the kind's named timeout and interval, and return the
    /// resource as it is once ready (attrs that exist only then, like a DB
    /// endpoint, are recorded from this result).
    ///
    /// # Errors
    /// [`ReconcileError::Timeout`] when the resource is not ready in time
    /// (it stays recorded; the next apply waits again); `Api` as for
    /// [`create`](Self::create).
    async fn wait_ready(
        &self,
        _cx: &Ctx,
        _spec: &ResourceSpec,
        created: Observed,
    ) -> Result<Observed, ReconcileError> {
        Ok(created)
    }
}

/// The name of a create-before-destroy replacement whose old object is
/// named `current`: `<name>-r` while the old one has `name`, and `name`
/// again when the old one was itself a replacement. Two names are enough:
/// only one old object holds a name at a time.
pub fn alternate_name(name: &str, current: &str) -> String {
    if current == name {
        format!("{name}-r")
    } else {
        name.to_string()
    }
}

/// Whether `recorded` (the name the state has for an address) is the
/// alternate of the stack's `name`: reads then look for `recorded`.
pub fn is_alternate_name(name: &str, recorded: &str) -> bool {
    recorded == format!("{name}-r")
}

/// Every change the plan shows and apply makes for one resource: the
/// kind's [`Reconciler::diff`] of its props, plus the shared `tags` change
/// of a taggable kind ([`tags_change`]).
pub fn changes(
    reconciler: &dyn Reconciler,
    cx: &Ctx,
    spec: &ResourceSpec,
    observed: &Observed,
) -> Vec<FieldChange> {
    let mut out = reconciler.diff(spec, observed);
    if reconciler.taggable() {
        out.extend(tags_change(spec, observed, &cx.env));
    }
    out
}

/// Makes `changes` (from [`changes`]) on `current`: the `tags` change with
/// the kind's [`Reconciler::write_tags`], the rest with
/// [`Reconciler::update`], called only when something besides tags changed.
pub async fn make_changes(
    r: &dyn Reconciler,
    cx: &Ctx,
    spec: &ResourceSpec,
    current: &Observed,
    changes: &[FieldChange],
) -> Result<Observed, ReconcileError> {
    let (tags, rest): (Vec<&FieldChange>, Vec<&FieldChange>) =
        changes.iter().partition(|f| f.field == crate::diff::TAGS);
    for f in tags {
        let writes = TagWrites::of_change(f);
        if !writes.is_empty() {
            r.write_tags(cx, spec, current, &writes).await?;
        }
    }
    if rest.is_empty() && !changes.is_empty() {
        return Ok(current.updated_to(spec));
    }
    let rest: Vec<FieldChange> = rest.into_iter().cloned().collect();
    r.update(cx, spec, current, &rest).await
}

/// Reconcilers by kind, how long each kind takes (for scheduling), and an
/// optional counter of finished reads that the planner bumps (the CLI's
/// "Reading… [40/76]" line).
#[derive(Clone, Default)]
pub struct Registry {
    by_kind: BTreeMap<&'static str, Arc<dyn Reconciler>>,
    expected: &'static [ExpectedDuration],
    reads_done: Option<Arc<AtomicUsize>>,
}

impl Registry {
    /// An empty registry: no kinds, no expected durations (every kind then
    /// counts [`DEFAULT_SECS`]), no read counter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `r` under its [`Reconciler::kind`], replacing a reconciler
    /// registered for the same kind before (tests swap in fakes this way).
    pub fn register(&mut self, r: Arc<dyn Reconciler>) {
        self.by_kind.insert(r.kind(), r);
    }

    /// The reconciler of `kind`.
    ///
    /// # Errors
    /// [`ReconcileError::NoReconciler`] when none is registered.
    pub fn get(&self, kind: &str) -> Result<&Arc<dyn Reconciler>, ReconcileError> {
        self.by_kind
            .get(kind)
            .ok_or_else(|| ReconcileError::NoReconciler(kind.to_string()))
    }

    /// Every registered kind, in sorted order (for "every kind has a
    /// reconciler" checks).
    pub fn kinds(&self) -> impl Iterator<Item = &&'static str> {
        self.by_kind.keys()
    }

    /// Sets the expected durations the executor schedules by.
    pub fn set_expected_durations(&mut self, table: &'static [ExpectedDuration]) {
        self.expected = table;
    }

    /// The table [`set_expected_durations`](Self::set_expected_durations)
    /// set (empty by default): seconds per kind, create and delete.
    pub fn expected_durations(&self) -> &'static [ExpectedDuration] {
        self.expected
    }

    /// The expected duration of `kind`'s create (`delete == false`) or
    /// delete, in seconds; [`DEFAULT_SECS`] for a kind with no figure.
    pub fn expected_secs(&self, kind: &str, delete: bool) -> u64 {
        self.expected
            .iter()
            .find(|e| e.kind == kind)
            .map_or(DEFAULT_SECS, |e| {
                if delete {
                    e.delete_secs
                } else {
                    e.create_secs
                }
            })
    }

    /// This registry, with every finished `read` the planner makes counted
    /// into `counter` (whatever its outcome).
    pub fn counting_reads(&self, counter: Arc<AtomicUsize>) -> Registry {
        Registry {
            reads_done: Some(counter),
            ..self.clone()
        }
    }

    /// Called by the planner after each read.
    pub(crate) fn read_finished(&self) {
        if let Some(c) = &self.reads_done {
            c.fetch_add(1, Ordering::SeqCst);
        }
    }
}
