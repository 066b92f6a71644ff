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

use crate::state::StateStore;
use async_trait::async_trait;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use thiserror::Error;

/// Version of the JSON report (`drctl drill --json`).
pub const REPORT_FORMAT_VERSION: u32 = 1;

/// TTL clients add on top of the RTO: Route53 answers alias records to an
/// ALB with the ALB's TTL, 60 s (Route53 developer guide, "Choosing between
/// alias and non-alias records").
pub const ALIAS_TTL_SECONDS: u32 = 60;

/// Progress lines on long waits come this often (like `apply`'s "Still creating...").
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

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

/// How the primary's failure is simulated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Primary ASG min and desired to 0 (the design document's option A).
    Asg,
    /// Revoke the primary ALB security group's 80/443 ingress (option B).
    Sg,
    /// Invert the primary Route53 health check (least invasive; the default).
    HealthCheck,
}

impl Method {
    /// The `--method` spelling (`asg`, `sg`, `health-check`), as the report shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Asg => "asg",
            Method::Sg => "sg",
            Method::HealthCheck => "health-check",
        }
    }
}

/// One ingress rule of the ALB security group, as revoked and re-authorized.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngressRule {
    /// IP protocol, as EC2 spells it (`tcp`).
    pub protocol: String,
    /// First port of the range (80 or 443 for the ALB).
    pub from_port: i32,
    /// Last port of the range, inclusive.
    pub to_port: i32,
    /// Source IPv4 CIDR (`0.0.0.0/0` for the public ALB).
    pub cidr: String,
}

/// The setting the injection changes, with its values *before* the drill.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Injection {
    /// Primary Auto Scaling group scaled to 0 ([`Method::Asg`]).
    Asg {
        /// The group's region (the primary's).
        region: String,
        /// The group's name.
        name: String,
        /// Its `min_size` before the drill, instances.
        min_size: i32,
        /// Its `desired_capacity` before the drill, instances.
        desired_capacity: i32,
    },
    /// The primary ALB security group's web ingress revoked ([`Method::Sg`]).
    Sg {
        /// The group's region (the primary's).
        region: String,
        /// The group id (`sg-…`).
        group_id: String,
        /// The rules the drill revokes (exactly these are re-authorized).
        ingress: Vec<IngressRule>,
    },
    /// The primary Route53 health check inverted ([`Method::HealthCheck`]).
    HealthCheck {
        /// The health check id (Route53 ids are global).
        health_check_id: String,
        /// Its `Inverted` setting before the drill (normally false).
        inverted: bool,
    },
}

/// A marker written to a primary store to measure its replication lag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "store", rename_all = "lowercase", deny_unknown_fields)]
pub enum Canary {
    /// An item of the global table, read back in the secondary region.
    Dynamodb {
        /// The table's primary region, where the canary item is written.
        region: String,
        /// The region the item is read back from.
        replica_region: String,
        /// The table name (the same in both regions).
        table: String,
        /// The canary item's partition key value (`drctl-drill-<drill id>`).
        key: String,
    },
    /// An object of the primary bucket, read back from the replica bucket.
    S3 {
        /// The primary bucket's region, where the canary object is written.
        region: String,
        /// The primary bucket's name.
        bucket: String,
        /// The replica bucket's region.
        replica_region: String,
        /// The replica bucket's name, where the object is read back.
        replica_bucket: String,
        /// The canary object's key.
        key: String,
    },
}

impl Canary {
    /// The store's name as the report keys RPOs: `dynamodb` or `s3`.
    pub fn store(&self) -> &'static str {
        match self {
            Canary::Dynamodb { .. } => "dynamodb",
            Canary::S3 { .. } => "s3",
        }
    }
}

/// A drill in progress, kept in the state (`drill`) until failback is done.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillJournal {
    /// Random 12 hex characters naming this drill's canaries.
    pub id: String,
    /// How the primary's failure is simulated.
    pub method: Method,
    /// When the drill started, RFC 3339 UTC with milliseconds.
    pub started_at: String,
    /// Written before the canaries are.
    #[serde(default)]
    pub canaries: Vec<Canary>,
    /// Written before the injection; `None` until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub injection: Option<Injection>,
}

/// Recovery objectives (defaults: the design document's, STACK.md).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Targets {
    /// Most time from injection until Route53 answers with the secondary and
    /// its targets are healthy (default 5 min, STACK.md).
    pub rto: Duration,
    /// Most replication lag for the sessions table (default 1 s, STACK.md).
    pub rpo_dynamodb: Duration,
    /// Most replication lag for the bucket (default 15 min: S3 Replication Time
    /// Control's objective, STACK.md).
    pub rpo_s3: Duration,
}

impl Default for Targets {
    fn default() -> Self {
        Targets {
            rto: Duration::from_secs(300),
            rpo_dynamodb: Duration::from_secs(1),
            rpo_s3: Duration::from_secs(900),
        }
    }
}

/// One readiness check's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// What was checked, one short phrase (`secondary ASG has healthy targets`).
    pub name: String,
    /// Whether the check passed; a drill with any failed check changes nothing.
    pub ok: bool,
    /// What was seen, or what is wrong and what to do.
    pub detail: String,
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
/// A stage of the drill, as the timeline and the report name it.
pub enum Phase {
    /// Undoing an earlier drill that did not finish (its journal was in the state).
    Recovery,
    /// Read-only checks of the secondary and the replication.
    Readiness,
    /// Writing the canaries and measuring their replication lag (RPO).
    Canaries,
    /// Changing the primary so that its health check fails.
    Injection,
    /// Waiting for Route53 to fail over and for the secondary to serve (RTO).
    Observation,
    /// Restoring the primary and waiting for Route53 to fail back.
    Failback,
    /// A no-change plan: the env must be as it was before the drill.
    Verify,
}

impl Phase {
    /// The phase's lowercase name (`readiness`), as the report writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Recovery => "recovery",
            Phase::Readiness => "readiness",
            Phase::Canaries => "canaries",
            Phase::Injection => "injection",
            Phase::Observation => "observation",
            Phase::Failback => "failback",
            Phase::Verify => "verify",
        }
    }
}

/// One line of the timeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhaseEvent {
    /// RFC 3339, UTC, milliseconds.
    pub at: String,
    /// Seconds since the drill started.
    pub t_seconds: f64,
    /// The phase the line belongs to.
    pub phase: Phase,
    /// What happened, one sentence.
    pub message: String,
}

/// What the caller sees as it happens.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A line of the timeline (also kept in the report).
    Phase(PhaseEvent),
    /// "still waiting" lines: printed, not kept in the timeline.
    Progress(String),
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
/// Measured replication lag per store, seconds; `None`: not measured
/// (`--check`, or the canary never arrived).
pub struct RpoSeconds {
    /// The sessions table's canary lag, seconds.
    pub dynamodb: Option<f64>,
    /// The bucket's canary lag, seconds.
    pub s3: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
/// The targets, in seconds, as the JSON report writes them.
pub struct TargetSeconds {
    /// [`Targets::rto`] in seconds.
    pub rto_seconds: f64,
    /// [`Targets::rpo_dynamodb`] and [`Targets::rpo_s3`] in seconds.
    pub rpo_seconds: RpoSeconds,
}

/// The drill's result (`--json` prints it; shape documented in the README).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DrillReport {
    /// [`REPORT_FORMAT_VERSION`].
    pub format_version: u32,
    /// The env drilled.
    pub env: String,
    /// `None` for `--check`.
    pub method: Option<Method>,
    /// Whether every readiness check passed and no target was breached.
    pub passed: bool,
    /// Start, RFC 3339 UTC with milliseconds.
    pub started_at: String,
    /// End, RFC 3339 UTC with milliseconds.
    pub finished_at: String,
    /// Injection until Route53 answers with the secondary and its targets are healthy.
    pub rto_seconds: Option<f64>,
    /// Restore until Route53 answers with the primary again.
    pub failback_seconds: Option<f64>,
    /// Added by clients' DNS caches on top of the RTO.
    pub dns_ttl_seconds: u32,
    /// Measured replication lag of each store's canary.
    pub rpo_seconds: RpoSeconds,
    /// Canary polls start this often: lags are measured to about this precision.
    pub rpo_resolution_seconds: f64,
    /// The targets measured against.
    pub targets: TargetSeconds,
    /// Every readiness check, in the order run.
    pub readiness: Vec<Check>,
    /// Addresses a plan would change after failback (empty: the env is as before).
    pub changes_after: Vec<String>,
    /// Why `passed` is false, one sentence each.
    pub breaches: Vec<String>,
    /// The whole timeline, in order.
    pub phases: Vec<PhaseEvent>,
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

/// Records the timeline and hands each event to the caller at once.
struct Timeline<'a> {
    start: Instant,
    started_at: String,
    events: Vec<PhaseEvent>,
    sink: &'a mut (dyn FnMut(Event) + Send),
}

impl<'a> Timeline<'a> {
    fn new(sink: &'a mut (dyn FnMut(Event) + Send)) -> Self {
        Timeline {
            start: Instant::now(),
            started_at: now_rfc3339(),
            events: vec![],
            sink,
        }
    }
    fn at(&mut self, phase: Phase, t: Instant, message: impl Into<String>) {
        let e = PhaseEvent {
            at: now_rfc3339(),
            t_seconds: round3(t.saturating_duration_since(self.start).as_secs_f64()),
            phase,
            message: message.into(),
        };
        (self.sink)(Event::Phase(e.clone()));
        self.events.push(e);
    }
    fn log(&mut self, phase: Phase, message: impl Into<String>) {
        self.at(phase, Instant::now(), message)
    }
    fn progress(&mut self, message: String) {
        (self.sink)(Event::Progress(message));
    }
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn elapsed_label(d: Duration) -> String {
    let s = d.as_secs();
    format!("{:02}m{:02}s", s / 60, s % 60)
}

fn cloud<T>(r: Result<T, DrillError>, what: &str) -> Result<T, DrillError> {
    r.map_err(|e| DrillError::Cloud(format!("{what}: {e}")))
}

/// Readiness: the cloud's checks plus "a plan changes nothing in the secondary".
pub async fn check(
    cloud_: &dyn DrillCloud,
    plan: &PlanProbe<'_>,
    secondary_region: &str,
    env: &str,
    targets: Targets,
    sink: &mut (dyn FnMut(Event) + Send),
) -> Result<DrillReport, DrillError> {
    let mut tl = Timeline::new(sink);
    let checks = readiness(cloud_, plan, secondary_region, &mut tl).await?;
    let mut report = empty_report(env, None, targets, &tl);
    report.breaches = failed(&checks);
    report.readiness = checks;
    finish(report, tl)
}

async fn readiness(
    cloud_: &dyn DrillCloud,
    plan: &PlanProbe<'_>,
    secondary_region: &str,
    tl: &mut Timeline<'_>,
) -> Result<Vec<Check>, DrillError> {
    tl.log(
        Phase::Readiness,
        "checking the secondary region and the replication",
    );
    let mut checks = cloud(cloud_.readiness().await, "readiness")?;
    let changes = plan().await?;
    let prefix = format!("{secondary_region}/");
    let secondary: Vec<&String> = changes
        .iter()
        .filter(|a| a.starts_with(&prefix) || a.starts_with("global/"))
        .collect();
    checks.push(Check {
        name: format!("the plan changes nothing in {secondary_region} or global"),
        ok: secondary.is_empty(),
        detail: if secondary.is_empty() {
            "no changes".into()
        } else {
            format!(
                "would change: {}",
                secondary
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
    });
    for c in &checks {
        let mark = if c.ok { "ok" } else { "FAILED" };
        tl.log(
            Phase::Readiness,
            format!("{mark}: {} ({})", c.name, c.detail),
        );
    }
    Ok(checks)
}

fn failed(checks: &[Check]) -> Vec<String> {
    checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| format!("not ready: {} ({})", c.name, c.detail))
        .collect()
}

fn empty_report(env: &str, method: Option<Method>, t: Targets, tl: &Timeline<'_>) -> DrillReport {
    DrillReport {
        format_version: REPORT_FORMAT_VERSION,
        env: env.into(),
        method,
        passed: false,
        started_at: tl.started_at.clone(),
        finished_at: String::new(),
        rto_seconds: None,
        failback_seconds: None,
        dns_ttl_seconds: ALIAS_TTL_SECONDS,
        rpo_seconds: RpoSeconds::default(),
        rpo_resolution_seconds: FIRST_CANARY_POLL.as_secs_f64(),
        targets: TargetSeconds {
            rto_seconds: t.rto.as_secs_f64(),
            rpo_seconds: RpoSeconds {
                dynamodb: Some(t.rpo_dynamodb.as_secs_f64()),
                s3: Some(t.rpo_s3.as_secs_f64()),
            },
        },
        readiness: vec![],
        changes_after: vec![],
        breaches: vec![],
        phases: vec![],
    }
}

fn finish(mut report: DrillReport, tl: Timeline<'_>) -> Result<DrillReport, DrillError> {
    report.finished_at = now_rfc3339();
    report.passed = report.breaches.is_empty();
    report.phases = tl.events;
    Ok(report)
}

/// Undoes a drill left in the state: restores the journaled values, deletes
/// the canaries, clears the journal. `Ok(false)`: there was none.
pub async fn abort(
    cloud_: &dyn DrillCloud,
    store: &mut StateStore,
    opts: &DrillOptions,
    sink: &mut (dyn FnMut(Event) + Send),
) -> Result<bool, DrillError> {
    let mut tl = Timeline::new(sink);
    undo(cloud_, store, opts, &mut tl).await
}

async fn undo(
    cloud_: &dyn DrillCloud,
    store: &mut StateStore,
    opts: &DrillOptions,
    tl: &mut Timeline<'_>,
) -> Result<bool, DrillError> {
    let Some(journal) = store.state.drill.clone() else {
        return Ok(false);
    };
    tl.log(
        Phase::Recovery,
        format!(
            "undoing drill {} (method {}, started {})",
            journal.id,
            journal.method.as_str(),
            journal.started_at
        ),
    );
    if let Some(prior) = &journal.injection {
        cloud(
            cloud_.restore(prior).await,
            "restoring the injected setting",
        )?;
        tl.log(Phase::Recovery, format!("restored {}", describe(prior)));
        let stop = AtomicBool::new(false);
        let back = wait_for(cloud_, opts, tl, Phase::Recovery, &stop, |o| {
            o.dns == DnsAnswer::Primary
        })
        .await?;
        tl.log(
            Phase::Recovery,
            match back {
                Some(_) => "Route53 answers with the primary ALB".to_string(),
                None => format!(
                    "Route53 still does not answer with the primary after {} s; check the primary",
                    opts.timeout.as_secs()
                ),
            },
        );
    }
    for c in &journal.canaries {
        cloud(cloud_.delete_canary(c).await, "deleting a canary")?;
    }
    if !journal.canaries.is_empty() {
        tl.log(Phase::Recovery, "canaries deleted");
    }
    store.state.drill = None;
    store.save()?;
    tl.log(Phase::Recovery, "drill journal cleared");
    Ok(true)
}

/// What `prior` will put back, for the timeline.
fn describe(prior: &Injection) -> String {
    match prior {
        Injection::Asg {
            region,
            name,
            min_size,
            desired_capacity,
        } => format!("ASG {name} ({region}) min {min_size}, desired {desired_capacity}"),
        Injection::Sg {
            region,
            group_id,
            ingress,
        } => format!(
            "{} ingress rule(s) of {group_id} ({region}): {}",
            ingress.len(),
            ingress
                .iter()
                .map(|r| format!(
                    "{}/{}-{} from {}",
                    r.protocol, r.from_port, r.to_port, r.cidr
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Injection::HealthCheck {
            health_check_id,
            inverted,
        } => format!("health check {health_check_id} Inverted={inverted}"),
    }
}

/// Polls until `done` holds; `Ok(Some(when))` or `Ok(None)` on timeout/stop.
async fn wait_for(
    cloud_: &dyn DrillCloud,
    opts: &DrillOptions,
    tl: &mut Timeline<'_>,
    phase: Phase,
    stop: &AtomicBool,
    done: impl Fn(&Observation) -> bool,
) -> Result<Option<Instant>, DrillError> {
    let start = Instant::now();
    let mut next_progress = start + PROGRESS_EVERY;
    loop {
        let t = Instant::now();
        let o = cloud(cloud_.observe().await, "observing the failover")?;
        if done(&o) {
            return Ok(Some(t));
        }
        if t.duration_since(start) >= opts.timeout || stop.load(Ordering::SeqCst) {
            return Ok(None);
        }
        if t >= next_progress {
            tl.progress(format!(
                "{}: still waiting for Route53 to answer with the primary... [{} elapsed]",
                phase.as_str(),
                elapsed_label(t.duration_since(start))
            ));
            next_progress += PROGRESS_EVERY;
        }
        tokio::time::sleep(opts.poll).await;
    }
}

/// Runs the whole drill. `stop` (Ctrl-C) ends observation early; failback
/// and cleanup still happen. The state is saved at every journal step.
pub async fn run(
    cloud_: &dyn DrillCloud,
    plan: &PlanProbe<'_>,
    store: &mut StateStore,
    opts: &DrillOptions,
    secondary_region: &str,
    stop: &AtomicBool,
    sink: &mut (dyn FnMut(Event) + Send),
) -> Result<DrillReport, DrillError> {
    let mut tl = Timeline::new(sink);
    if store.state.drill.is_some() {
        undo(cloud_, store, opts, &mut tl).await?;
    }
    let mut report = empty_report(&opts.env, Some(opts.method), opts.targets, &tl);
    let checks = readiness(cloud_, plan, secondary_region, &mut tl).await?;
    report.breaches = failed(&checks);
    report.readiness = checks;
    if !report.breaches.is_empty() {
        tl.log(Phase::Readiness, "not ready: the drill changes nothing");
        return finish(report, tl);
    }

    // Canaries: journaled by name first, so an abort can delete them.
    let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
    let canaries = cloud_.canaries(&id);
    store.state.drill = Some(DrillJournal {
        id: id.clone(),
        method: opts.method,
        started_at: tl.started_at.clone(),
        canaries: canaries.clone(),
        injection: None,
    });
    store.save()?;
    let body = format!("drctl drill {id} canary written {}", now_rfc3339());
    let mut written = Vec::new();
    for c in &canaries {
        cloud(cloud_.write_canary(c, &body).await, "writing a canary")?;
        let t = Instant::now();
        tl.at(
            Phase::Canaries,
            t,
            format!("wrote the {} canary ({})", c.store(), canary_name(c)),
        );
        written.push((c.clone(), t));
    }

    // Injection: prior values journaled before the change.
    let prior = cloud(
        cloud_.prior(opts.method).await,
        "reading the values to change",
    )?;
    if let Some(j) = store.state.drill.as_mut() {
        j.injection = Some(prior.clone());
    }
    store.save()?;
    tl.log(Phase::Injection, format!("journaled {}", describe(&prior)));
    cloud(cloud_.inject(&prior).await, "injecting the failure")?;
    let injected = Instant::now();
    tl.at(Phase::Injection, injected, injected_message(&prior));

    // Observation: failover and replication, polled together.
    let outcome = observe(cloud_, opts, &mut tl, stop, injected, &written).await;

    // Failback always runs.
    cloud(
        cloud_.restore(&prior).await,
        "restoring the injected setting",
    )?;
    let restored = Instant::now();
    tl.at(
        Phase::Failback,
        restored,
        format!("restored {}", describe(&prior)),
    );
    let never = AtomicBool::new(false);
    let back = wait_for(cloud_, opts, &mut tl, Phase::Failback, &never, |o| {
        o.dns == DnsAnswer::Primary
    })
    .await?;
    match back {
        Some(t) => {
            let s = round3(t.duration_since(restored).as_secs_f64());
            tl.at(
                Phase::Failback,
                t,
                format!("Route53 answers with the primary ALB again ({s:.3} s after the restore)"),
            );
            report.failback_seconds = Some(s);
        }
        None => report.breaches.push(format!(
            "Route53 did not answer with the primary again within {} s of the restore",
            opts.timeout.as_secs()
        )),
    }
    for c in &canaries {
        cloud(cloud_.delete_canary(c).await, "deleting a canary")?;
    }
    tl.log(Phase::Failback, "canaries deleted");
    store.state.drill = None;
    store.save()?;

    let obs = outcome?;
    report.rto_seconds = obs.rto;
    report.rpo_seconds = obs.rpo;
    report.breaches.extend(obs.breaches);
    breaches(&mut report, opts);

    // Verify: the env is exactly as the plan wants it.
    let changes = plan().await?;
    if changes.is_empty() {
        tl.log(
            Phase::Verify,
            "a plan shows no changes: the env is as before the drill",
        );
    } else {
        tl.log(
            Phase::Verify,
            format!("a plan would change: {}", changes.join(", ")),
        );
        report.breaches.push(format!(
            "after failback a plan would change {}",
            changes.join(", ")
        ));
    }
    report.changes_after = changes;
    finish(report, tl)
}

fn canary_name(c: &Canary) -> String {
    match c {
        Canary::Dynamodb {
            table, key, region, ..
        } => format!("{table} item {key} in {region}"),
        Canary::S3 { bucket, key, .. } => format!("s3://{bucket}/{key}"),
    }
}

fn injected_message(prior: &Injection) -> String {
    match prior {
        Injection::Asg { name, .. } => format!("set ASG {name} min and desired to 0"),
        Injection::Sg {
            group_id, ingress, ..
        } => {
            format!("revoked {} ingress rule(s) of {group_id}", ingress.len())
        }
        Injection::HealthCheck {
            health_check_id, ..
        } => {
            format!("inverted health check {health_check_id}")
        }
    }
}

struct Outcome {
    rto: Option<f64>,
    rpo: RpoSeconds,
    breaches: Vec<String>,
}

async fn observe(
    cloud_: &dyn DrillCloud,
    opts: &DrillOptions,
    tl: &mut Timeline<'_>,
    stop: &AtomicBool,
    injected: Instant,
    written: &[(Canary, Instant)],
) -> Result<Outcome, DrillError> {
    let mut out = Outcome {
        rto: None,
        rpo: RpoSeconds::default(),
        breaches: vec![],
    };
    let mut pending: Vec<(Canary, Instant)> = written.to_vec();
    let mut canary_wait = FIRST_CANARY_POLL;
    let mut next_canary = Instant::now();
    let mut next_failover = Instant::now();
    let mut next_progress = injected + PROGRESS_EVERY;
    let (mut check_down, mut dns_secondary, mut targets_ok) = (false, false, false);
    loop {
        let now = Instant::now();
        if now >= next_canary && !pending.is_empty() {
            let mut still = Vec::new();
            for (c, wrote) in pending {
                let polled = Instant::now();
                if cloud(cloud_.canary_replicated(&c).await, "reading a canary")? {
                    let lag = round3(polled.saturating_duration_since(wrote).as_secs_f64());
                    tl.at(
                        Phase::Observation,
                        polled,
                        format!(
                            "{} canary seen in {} (replication lag {lag:.3} s)",
                            c.store(),
                            replica_of(&c)
                        ),
                    );
                    match c {
                        Canary::Dynamodb { .. } => out.rpo.dynamodb = Some(lag),
                        Canary::S3 { .. } => out.rpo.s3 = Some(lag),
                    }
                } else {
                    still.push((c, wrote));
                }
            }
            pending = still;
            next_canary = Instant::now() + canary_wait;
            canary_wait = (canary_wait.mul_f64(1.5)).min(opts.poll.max(FIRST_CANARY_POLL));
        }
        if now >= next_failover && out.rto.is_none() {
            let t = Instant::now();
            let o = cloud(cloud_.observe().await, "observing the failover")?;
            if !check_down && !o.primary_check_healthy {
                check_down = true;
                tl.at(
                    Phase::Observation,
                    t,
                    format!(
                        "Route53 considers the primary unhealthy ({})",
                        o.primary_check_detail
                    ),
                );
            }
            if !dns_secondary && o.dns == DnsAnswer::Secondary {
                dns_secondary = true;
                tl.at(
                    Phase::Observation,
                    t,
                    "Route53 answers with the secondary ALB",
                );
            }
            if !targets_ok && o.secondary_healthy_targets > 0 {
                targets_ok = true;
                tl.at(
                    Phase::Observation,
                    t,
                    format!(
                        "{} healthy target(s) behind the secondary ALB",
                        o.secondary_healthy_targets
                    ),
                );
            }
            if o.dns == DnsAnswer::Secondary && o.secondary_healthy_targets > 0 {
                let rto = round3(t.duration_since(injected).as_secs_f64());
                tl.at(Phase::Observation, t, format!("failed over: RTO {rto:.3} s (+ up to {ALIAS_TTL_SECONDS} s of DNS TTL in clients)"));
                out.rto = Some(rto);
            }
            next_failover = Instant::now() + opts.poll;
        }
        if out.rto.is_some() && pending.is_empty() {
            return Ok(out);
        }
        let now = Instant::now();
        if stop.load(Ordering::SeqCst) {
            out.breaches
                .push("interrupted before the drill finished observing".into());
            tl.log(Phase::Observation, "interrupted: failing back now");
            return Ok(out);
        }
        if now.duration_since(injected) >= opts.timeout {
            if out.rto.is_none() {
                out.breaches.push(format!(
                    "Route53 did not answer with a healthy secondary within {} s",
                    opts.timeout.as_secs()
                ));
            }
            for (c, _) in &pending {
                out.breaches.push(format!(
                    "the {} canary did not reach {} within {} s",
                    c.store(),
                    replica_of(c),
                    opts.timeout.as_secs()
                ));
            }
            tl.log(Phase::Observation, "timed out: failing back now");
            return Ok(out);
        }
        if now >= next_progress {
            let what = if out.rto.is_none() {
                "Route53 to answer with the secondary"
            } else {
                "the canaries to replicate"
            };
            tl.progress(format!(
                "observation: still waiting for {what}... [{} elapsed]",
                elapsed_label(now.duration_since(injected))
            ));
            next_progress += PROGRESS_EVERY;
        }
        let next = if pending.is_empty() {
            next_failover
        } else if out.rto.is_some() {
            next_canary
        } else {
            next_canary.min(next_failover)
        };
        tokio::time::sleep(
            next.saturating_duration_since(Instant::now())
                .max(Duration::from_millis(5)),
        )
        .await;
    }
}

fn replica_of(c: &Canary) -> String {
    match c {
        Canary::Dynamodb { replica_region, .. } => format!("the {replica_region} replica"),
        Canary::S3 { replica_bucket, .. } => format!("s3://{replica_bucket}"),
    }
}

/// Adds a breach for each measure over its target.
fn breaches(report: &mut DrillReport, opts: &DrillOptions) {
    let t = opts.targets;
    let over = |measured: Option<f64>, target: Duration| {
        measured.is_some_and(|m| m > target.as_secs_f64())
    };
    if over(report.rto_seconds, t.rto) {
        report.breaches.push(format!(
            "RTO {:.3} s is over the target of {} s",
            report.rto_seconds.unwrap_or_default(),
            fmt_secs(t.rto)
        ));
    }
    if over(report.rpo_seconds.dynamodb, t.rpo_dynamodb) {
        report.breaches.push(format!(
            "DynamoDB RPO {:.3} s is over the target of {} s",
            report.rpo_seconds.dynamodb.unwrap_or_default(),
            fmt_secs(t.rpo_dynamodb)
        ));
    }
    if over(report.rpo_seconds.s3, t.rpo_s3) {
        report.breaches.push(format!(
            "S3 RPO {:.3} s is over the target of {} s",
            report.rpo_seconds.s3.unwrap_or_default(),
            fmt_secs(t.rpo_s3)
        ));
    }
}

fn fmt_secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{}", s as u64)
    } else {
        format!("{s}")
    }
}

#[cfg(test)]
#[path = "drill_tests.rs"]
mod tests;
