//! The DR drill (`drctl drill`), without the AWS SDK: the journal kept in the
//! state, the targets, the report, and the orchestration of the phases over
//! a [`DrillCloud`] (drctl-aws implements it; tests use a fake).
//!
//! Phases: readiness → canaries → injection → observation → failback →
//! verify. Guarantees:
//! - Before anything changes, what will change is journaled in the state
//!   ([`DrillJournal`]): first the canaries' names, then the injected
//!   setting's prior values. A drill killed at any point is undone by
//!   [`abort`] (or the next [`run`]), which restores exactly those values and
//!   deletes the canaries.
//! - Failback restores the journaled values even when observation failed
//!   or timed out or was interrupted.
//!
//! Modules, in the order a drill runs: [`run`] and its steps
//! (`phases.rs`), the observation loop that measures RTO and RPO
//! (`observe.rs`), the undo of an unfinished drill (`recovery.rs`); the
//! journal kept in the state (`journal.rs`), the report and its breaches
//! (`report.rs`), the timeline (`timeline.rs`), the plans that check the
//! env before and after (`probe.rs`).

use async_trait::async_trait;
use std::time::Duration;
use thiserror::Error;

mod journal;
mod observe;
mod phases;
mod probe;
mod recovery;
mod report;
mod timeline;

pub use journal::{Canary, DrillJournal, IngressRule, Injection, Method};
pub use phases::{check, run};
pub use probe::{engine_probe, plan_changes, plan_probe, PlanProbe};
pub use recovery::abort;
pub use report::{Check, DrillReport, RpoSeconds, TargetSeconds, Targets, REPORT_FORMAT_VERSION};
pub use timeline::{Event, Phase, PhaseEvent};

/// TTL clients add on top of the RTO: Route53 answers alias records to an
/// ALB with the ALB's TTL, 60 s (Route53 developer guide, "Choosing between
/// alias and non-alias records").
pub const ALIAS_TTL_SECONDS: u32 = 60;

/// First canary poll; later polls back off ×1.5 up to the poll interval. Its
/// value bounds how precisely a replication lag is measured.
const FIRST_CANARY_POLL: Duration = Duration::from_millis(50);

#[derive(Debug, Error)]
/// Why a drill step failed. The drill stops, and failback still restores
/// what the journal holds.
pub enum DrillError {
    #[error("{0}")]
    /// An AWS call of the [`DrillCloud`] failed; the message names the call and
    /// the resource.
    Cloud(String),
    #[error(transparent)]
    /// The journal could not be written to (or read from) the state.
    State(#[from] crate::state::StateError),
}

/// Which endpoint Route53 answers with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DnsAnswer {
    /// The primary ALB's addresses: not failed over.
    Primary,
    /// The secondary ALB's addresses: failed over.
    Secondary,
    /// Neither ALB: the addresses Route53 answered with.
    Other(Vec<String>),
}

/// One look at the failover, as the drill polls it.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    /// Route53's use of the primary health check (after `Inverted`).
    pub primary_check_healthy: bool,
    /// e.g. "3/3 checkers: Failure: HTTP Status Code 503".
    pub primary_check_detail: String,
    /// What Route53 answers for the domain.
    pub dns: DnsAnswer,
    /// Healthy targets in the secondary target group.
    pub secondary_healthy_targets: usize,
}

/// The AWS side of a drill (drctl-aws `drill::AwsDrill`).
#[async_trait]
pub trait DrillCloud: Send + Sync {
    /// Read-only checks of the secondary and the replication (each named).
    async fn readiness(&self) -> Result<Vec<Check>, DrillError>;
    /// The canaries this drill writes (names only; nothing is called).
    fn canaries(&self, drill_id: &str) -> Vec<Canary>;
    /// Writes `body` as the canary in the primary store.
    async fn write_canary(&self, canary: &Canary, body: &str) -> Result<(), DrillError>;
    /// Whether the canary has reached the replica (one look, no wait).
    async fn canary_replicated(&self, canary: &Canary) -> Result<bool, DrillError>;
    /// Deletes the canary everywhere (all versions); absent is fine.
    async fn delete_canary(&self, canary: &Canary) -> Result<(), DrillError>;
    /// Reads the values `method` will change.
    async fn prior(&self, method: Method) -> Result<Injection, DrillError>;
    /// Makes the change [`Injection`] describes, from the values in `prior`
    /// (already journaled).
    async fn inject(&self, prior: &Injection) -> Result<(), DrillError>;
    /// Puts back exactly `prior`.
    async fn restore(&self, prior: &Injection) -> Result<(), DrillError>;
    /// One look at the failover state; the drill polls it.
    async fn observe(&self) -> Result<Observation, DrillError>;
}

/// How a drill runs.
#[derive(Clone, Debug)]
pub struct DrillOptions {
    /// The env to drill (for the report and the journal's checks).
    pub env: String,
    /// How the primary's failure is simulated.
    pub method: Method,
    /// The recovery objectives the measurements are compared with.
    pub targets: Targets,
    /// Between failover polls (GetHealthCheckStatus, TestDNSAnswer, ...).
    pub poll: Duration,
    /// Longest wait for failover, failback or replication.
    pub timeout: Duration,
}

/// `r` with its error prefixed by `what` (the call that failed).
fn cloud<T>(r: Result<T, DrillError>, what: &str) -> Result<T, DrillError> {
    r.map_err(|e| DrillError::Cloud(format!("{what}: {e}")))
}

#[cfg(test)]
mod tests;
