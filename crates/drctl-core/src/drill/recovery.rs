//! Undoing a drill that did not finish: what its journal says was changed
//! is put back, its canaries are deleted, the journal is cleared.

use super::observe::wait_for;
use super::timeline::Timeline;
use super::{cloud, DnsAnswer, DrillCloud, DrillError, DrillOptions, Event, Injection, Phase};
use crate::state::StateStore;
use std::sync::atomic::AtomicBool;

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

/// [`abort`] on the caller's timeline (also the first step of a [`run`](super::run)
/// that finds a journal): restore, wait for Route53 to answer with the
/// primary (a timeout is only logged), delete the canaries, clear the
/// journal and save. `Ok(false)`: no journal, nothing done.
pub(super) async fn undo(
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
pub(super) fn describe(prior: &Injection) -> String {
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
