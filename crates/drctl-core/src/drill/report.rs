//! The drill's report: the recovery objectives ([`Targets`]), what was
//! measured against them ([`DrillReport`]) and the breaches.

use super::timeline::{now_rfc3339, PhaseEvent, Timeline};
use super::{DrillError, DrillOptions, Method, ALIAS_TTL_SECONDS, FIRST_CANARY_POLL};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Version of the JSON report (`drctl drill --json`).
pub const REPORT_FORMAT_VERSION: u32 = 1;

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

/// One breach line per failed readiness check, in order.
pub(super) fn failed(checks: &[Check]) -> Vec<String> {
    checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| format!("not ready: {} ({})", c.name, c.detail))
        .collect()
}

/// A report with nothing measured yet: the targets, the start time, no breach.
pub(super) fn empty_report(
    env: &str,
    method: Option<Method>,
    t: Targets,
    tl: &Timeline<'_>,
) -> DrillReport {
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

/// Stamps the end time, sets `passed` (no breach) and moves the timeline in.
pub(super) fn finish(mut report: DrillReport, tl: Timeline<'_>) -> Result<DrillReport, DrillError> {
    report.finished_at = now_rfc3339();
    report.passed = report.breaches.is_empty();
    report.phases = tl.events;
    Ok(report)
}

/// Adds a breach for each measure over its target.
pub(super) fn breaches(report: &mut DrillReport, opts: &DrillOptions) {
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

/// Whole seconds without a fraction (`300`), others as they are (`0.5`).
fn fmt_secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{}", s as u64)
    } else {
        format!("{s}")
    }
}
