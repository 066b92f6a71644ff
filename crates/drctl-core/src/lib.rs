//! drctl's engine, with no AWS dependency.
//!
//! Module map:
//! - [`engine`]: the one entry point (`Engine`: plan, plan_destroy, apply)
//!   the CLI, benchmarks and tests drive everything through.
//! - [`model`]: addresses, resource specs, references between resources,
//!   ownership tags, what a read returns.
//! - [`graph`]: the desired stack as one DAG (both regions), cycle errors, DOT.
//! - [`reconcile`]: the `Reconciler` trait each resource kind implements,
//!   error classes, the registry.
//! - [`recover`]: the executor's rule for a call whose outcome is unknown
//!   (transient failure, lost answer): re-read, adopt, or call again.
//! - [`diff`]: field-by-field comparison, replacement reasons, drift.
//! - [`plan`]: reads the cloud and decides one action per resource.
//! - [`refresh`]: refresh-only: accept drift into the state, change no resource.
//! - [`orphans`]: resources tagged with the env that nothing accounts for.
//! - [`protection`]: deletion protection, refused at plan time.
//! - [`apply`]: the executor: write-ahead intents, parallel graph walk,
//!   failure isolation, stop flag, progress events.
//! - [`deposed`]: create-before-destroy replacements and deposed objects.
//! - [`ordering`]: destroy-order rules (data) applied to a set of deletions.
//! - [`walk`]: the generic parallel DAG walker under plan and apply.
//! - [`schedule`]: critical-path-first priorities from expected durations.
//! - [`state`]: the state file (atomic writes, backups, versions, tokens).
//! - [`lock`]: one writer per state.
//! - [`backend`]: where the state lives (local file or [`remote`] object
//!   store with ETag writes and a lease lock).
//! - [`secrets`]: a register of secret values no file may contain.
//! - [`drill`]: the DR drill's journal, targets, report and phases.

pub mod apply;
pub mod backend;
pub mod deposed;
pub mod diff;
pub mod drill;
pub mod engine;
pub mod graph;
pub mod import;
mod journal;
pub mod lock;
pub mod model;
pub mod ordering;
pub mod orphans;
pub mod plan;
pub mod protection;
pub mod reconcile;
pub mod recover;
pub mod refresh;
pub mod remote;
pub mod schedule;
pub mod secrets;
pub mod state;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod walk;
