//! The drill's phases in order: readiness → canaries → injection →
//! observation → failback → verify ([`run`]), and readiness alone
//! ([`check`]).

use super::observe::{observe, wait_for};
use super::recovery::{describe, undo};
use super::report::{breaches, empty_report, failed, finish};
use super::timeline::{now_rfc3339, round3, Timeline};
use super::{
    cloud, Canary, Check, DnsAnswer, DrillCloud, DrillError, DrillJournal, DrillOptions,
    DrillReport, Event, Injection, Phase, PlanProbe, Targets,
};
use crate::state::StateStore;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

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

/// The readiness phase: the cloud's checks, then "a plan changes nothing
/// in the secondary region or global", each logged `ok` or `FAILED`.
/// Read-only.
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
    let written = write_canaries(cloud_, store, opts, &mut tl).await?;
    let (prior, injected) = inject(cloud_, store, opts, &mut tl).await?;
    // Observation: failover and replication, polled together.
    let outcome = observe(cloud_, opts, &mut tl, stop, injected, &written).await;
    // Failback always runs, before an observation error is returned.
    fail_back(cloud_, store, opts, &mut tl, &prior, &written, &mut report).await?;
    let obs = outcome?;
    report.rto_seconds = obs.rto;
    report.rpo_seconds = obs.rpo;
    report.breaches.extend(obs.breaches);
    breaches(&mut report, opts);
    verify(plan, &mut tl, &mut report).await?;
    finish(report, tl)
}

/// The canaries phase: their names are journaled (state saved) before any
/// is written, so an abort can delete them; then each is written. Returns
/// each canary with when it was written (its RPO's start).
async fn write_canaries(
    cloud_: &dyn DrillCloud,
    store: &mut StateStore,
    opts: &DrillOptions,
    tl: &mut Timeline<'_>,
) -> Result<Vec<(Canary, Instant)>, DrillError> {
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
    for c in canaries {
        cloud(cloud_.write_canary(&c, &body).await, "writing a canary")?;
        let t = Instant::now();
        tl.at(
            Phase::Canaries,
            t,
            format!("wrote the {} canary ({})", c.store(), canary_name(&c)),
        );
        written.push((c, t));
    }
    Ok(written)
}

/// The injection phase: the values `opts.method` changes are read and
/// journaled (state saved) before the change is made. Returns them and
/// when the change was made (the RTO's start).
async fn inject(
    cloud_: &dyn DrillCloud,
    store: &mut StateStore,
    opts: &DrillOptions,
    tl: &mut Timeline<'_>,
) -> Result<(Injection, Instant), DrillError> {
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
    Ok((prior, injected))
}

/// The failback phase: puts back exactly `prior`, measures until Route53
/// answers with the primary again (`report.failback_seconds`, or a breach
/// after `opts.timeout`), deletes the `written` canaries and clears the
/// journal (state saved).
async fn fail_back(
    cloud_: &dyn DrillCloud,
    store: &mut StateStore,
    opts: &DrillOptions,
    tl: &mut Timeline<'_>,
    prior: &Injection,
    written: &[(Canary, Instant)],
    report: &mut DrillReport,
) -> Result<(), DrillError> {
    cloud(
        cloud_.restore(prior).await,
        "restoring the injected setting",
    )?;
    let restored = Instant::now();
    tl.at(
        Phase::Failback,
        restored,
        format!("restored {}", describe(prior)),
    );
    let never = AtomicBool::new(false);
    let back = wait_for(cloud_, opts, tl, Phase::Failback, &never, |o| {
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
    for (c, _) in written {
        cloud(cloud_.delete_canary(c).await, "deleting a canary")?;
    }
    tl.log(Phase::Failback, "canaries deleted");
    store.state.drill = None;
    store.save()?;
    Ok(())
}

/// The verify phase: a plan must show no change (the env as before the
/// drill); what it would change goes in `report.changes_after`, and is a
/// breach.
async fn verify(
    plan: &PlanProbe<'_>,
    tl: &mut Timeline<'_>,
    report: &mut DrillReport,
) -> Result<(), DrillError> {
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
    Ok(())
}

/// A canary as the timeline names it.
fn canary_name(c: &Canary) -> String {
    match c {
        Canary::Dynamodb {
            table, key, region, ..
        } => format!("{table} item {key} in {region}"),
        Canary::S3 { bucket, key, .. } => format!("s3://{bucket}/{key}"),
    }
}

/// What the injection did, for the timeline.
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
