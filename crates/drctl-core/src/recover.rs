//! The executor's one rule for a mutating call whose outcome is unknown.
//!
//! The SDK retries a failed call a few times; when it gives up (its attempts
//! or its retry quota ran out) or a call's answer was lost after it took
//! effect, the reconciler returns a transient error ([`ErrorClass::Retryable`]
//! or [`ErrorClass::Throttled`]: 5xx, throttling, timeout, dropped
//! connection), or, when the SDK's own retry met what its first attempt made,
//! [`ErrorClass::AlreadyExists`]. Either way the resource may exist. So,
//! before calling again, the resource is read the way the planner reads it
//! (by id, ownership tags, name, or the pending create's token), and:
//!
//! - found (this env's own, or carrying the pending create's token): it is
//!   adopted; what the lost call left undone is finished by an update;
//! - not found after a transient error: the call is made again, with the same
//!   idempotency token, within [`RESOURCE_RETRY`];
//! - `AlreadyExists` and not ours: the original error stands (a name clash).
//!
//! Updates are re-read and re-diffed before each retry (never repeated
//! blindly); deletes are idempotent and simply retried.

use crate::model::{Address, Observed, ReadOutcome, ResourceSpec};
use crate::reconcile::{Ctx, ErrorClass, ReconcileError, Reconciler};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The tracing target of messages meant for the user's terminal (the CLI
/// prints its events as plain lines on stderr).
pub const NOTICE_TARGET: &str = "drctl_notice";

/// How often, and how patiently, the executor calls a resource's operation
/// again after a transient failure the SDK's own retries did not absorb.
#[derive(Clone, Copy, Debug)]
pub struct RetryBudget {
    /// Further attempts after the first.
    pub retries: u32,
    /// The pause before the first retry; doubled each time, up to `cap`.
    pub initial: Duration,
    /// The longest pause between retries.
    pub cap: Duration,
}

/// Four more tries over ~30 s: the SDK has already spent its 5 attempts
/// (standard mode, up to 20 s backoff each) on the call; a fault that
/// outlasts this is not transient. Figures: AWS SDK standard retry mode
/// (docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html).
pub const RESOURCE_RETRY: RetryBudget = RetryBudget {
    retries: 4,
    initial: Duration::from_secs(2),
    cap: Duration::from_secs(16),
};

/// How long a clash at an address whose create the state records as
/// pending is read again before it stands: that create (a killed run's, or
/// this run's lost answer) may have made the resource a moment before its
/// tags became visible. Looks after ~200 ms, doubling to 2 s, about 5 s in
/// all. Figure: tags written by or just after a create are eventually
/// consistent ("ListTagsOfResource will only reflect the changes after a few
/// seconds", DynamoDB API Reference, TagResource); the emulator's SNS
/// CreateTopic makes the topic, then tags it.
pub const PENDING_CREATE_SETTLE: RetryBudget = RetryBudget {
    retries: 5,
    initial: Duration::from_millis(200),
    cap: Duration::from_secs(2),
};

/// `r.read`, giving a pending create time to land: while the read says
/// `Clash` and `cx` holds a pending create for `spec`'s address, it is made
/// again on [`PENDING_CREATE_SETTLE`]'s schedule. Without a pending create a
/// clash is answered at once (nothing of this env's can be landing).
///
/// # Errors
/// The read's own errors, unchanged.
pub async fn read_settled(
    r: &dyn Reconciler,
    cx: &Ctx,
    spec: &ResourceSpec,
    known_id: Option<&str>,
) -> Result<ReadOutcome, ReconcileError> {
    let mut attempt = 0;
    loop {
        let outcome = r.read(cx, spec, known_id).await?;
        let clash = matches!(outcome, ReadOutcome::Clash { .. });
        if !clash
            || cx.pending_create(&spec.address).is_none()
            || attempt >= PENDING_CREATE_SETTLE.retries
        {
            return Ok(outcome);
        }
        tracing::debug!(address = %spec.address, attempt, "a clash where a create is pending: reading again");
        tokio::time::sleep(PENDING_CREATE_SETTLE.delay(attempt)).await;
        attempt += 1;
    }
}

impl RetryBudget {
    /// The pause before retry `attempt` (0-based), with up to 50 % jitter so
    /// that parallel resources do not retry in step.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .initial
            .saturating_mul(2u32.saturating_pow(attempt.min(16)))
            .min(self.cap);
        let jitter: f64 = rand::random::<f64>() * 0.5;
        exp.mul_f64(1.0 - jitter).max(Duration::from_millis(1))
    }
}

/// An idempotency token (32 hex characters, like
/// [`crate::state::idempotency_token`]) for a mutating call that is not a
/// create, e.g. a new launch template version: derived from everything that
/// makes the call (the resource id, the version it builds on, the request
/// body), so the SDK's or the executor's repeat of the same call gets the
/// first call's result, and a different later call a different token.
pub fn request_token(parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())[..32].to_string()
}

/// Whether an error leaves a call's outcome unknown and worth another try.
pub fn is_transient(e: &ReconcileError) -> bool {
    matches!(e.class(), ErrorClass::Retryable | ErrorClass::Throttled)
}

fn notice(address: &Address, what: &str, e: &ReconcileError, attempt: u32) {
    tracing::info!(
        target: NOTICE_TARGET,
        "{address}: {what}: {e}; re-reading before trying again (retry {})",
        attempt + 1
    );
}

/// A read that sees what the unfinished create of `address` (token `token`)
/// made, like the planner's.
fn with_pending(cx: &Ctx, address: &Address, token: &str) -> Ctx {
    let mut pending: BTreeMap<Address, String> = (*cx.pending_creates).clone();
    pending.insert(address.clone(), token.to_string());
    Ctx {
        pending_creates: Arc::new(pending),
        ..cx.clone()
    }
}

/// Makes `spec` exist: `create`, retried under the rule above. Returns what
/// was created or adopted, matching `spec` (an adopted resource is updated
/// when the lost call left it different).
pub async fn create(
    r: &dyn Reconciler,
    cx: &Ctx,
    spec: &ResourceSpec,
    token: &str,
    budget: RetryBudget,
    stop: &AtomicBool,
) -> Result<Observed, ReconcileError> {
    let read_cx = with_pending(cx, &spec.address, token);
    let mut attempt = 0;
    loop {
        let err = match r.create(cx, spec, token).await {
            Ok(o) => return Ok(o),
            Err(e) => e,
        };
        let transient = is_transient(&err);
        if !transient && err.class() != ErrorClass::AlreadyExists {
            return Err(err);
        }
        if transient {
            if attempt >= budget.retries || stop.load(Ordering::SeqCst) {
                return Err(err);
            }
            notice(&spec.address, "create failed", &err, attempt);
            tokio::time::sleep(budget.delay(attempt)).await;
            attempt += 1;
        }
        let found = match read_settled(r, &read_cx, spec, None).await {
            Ok(ReadOutcome::Found(o)) => o,
            // Not there: the failed call made nothing; call again.
            Ok(ReadOutcome::NotFound) if transient => continue,
            // A transient read failure: the next round reads again.
            Err(e) if transient && is_transient(&e) => continue,
            // AlreadyExists on something that is not ours: a name clash.
            _ => return Err(err),
        };
        tracing::info!(
            target: NOTICE_TARGET,
            "{}: the create's answer was lost ({err}); adopting {}, which it made",
            spec.address,
            found.id
        );
        return finish_adopted(r, cx, spec, found).await;
    }
}

/// Brings an adopted resource in line with `spec` (what the lost create
/// call, or the steps after it, did not do).
async fn finish_adopted(
    r: &dyn Reconciler,
    cx: &Ctx,
    spec: &ResourceSpec,
    found: Observed,
) -> Result<Observed, ReconcileError> {
    let changes = crate::reconcile::changes(r, cx, spec, &found);
    if changes.is_empty() {
        return Ok(found);
    }
    if let Some(c) = changes.iter().find(|c| c.replace_reason.is_some()) {
        return Err(ReconcileError::Internal(format!(
            "{}: {} made by a create whose answer was lost differs in {}, which cannot change in place; run apply again to replace it",
            spec.address, found.id, c.field
        )));
    }
    crate::reconcile::make_changes(r, cx, spec, &found, &changes).await
}

/// Updates `current` to `spec`; after a transient failure the resource is
/// read again and only what still differs is updated.
pub async fn update(
    r: &dyn Reconciler,
    cx: &Ctx,
    spec: &ResourceSpec,
    current: &Observed,
    budget: RetryBudget,
    stop: &AtomicBool,
) -> Result<Observed, ReconcileError> {
    let mut current = current.clone();
    let mut changes = crate::reconcile::changes(r, cx, spec, &current);
    let mut attempt = 0;
    loop {
        let err = match crate::reconcile::make_changes(r, cx, spec, &current, &changes).await {
            Ok(o) => return Ok(o),
            Err(e) => e,
        };
        // AlreadyExists from a step of the update (the SDK's repeat of a
        // call whose answer was lost): done if the re-read shows no change.
        let exists = err.class() == ErrorClass::AlreadyExists;
        if !exists
            && (!is_transient(&err) || attempt >= budget.retries || stop.load(Ordering::SeqCst))
        {
            return Err(err);
        }
        if !exists {
            notice(&spec.address, "update failed", &err, attempt);
            tokio::time::sleep(budget.delay(attempt)).await;
            attempt += 1;
        }
        match r.read(cx, spec, Some(&current.id)).await {
            Ok(ReadOutcome::Found(o)) => {
                changes = crate::reconcile::changes(r, cx, spec, &o);
                if changes.is_empty() {
                    return Ok(o);
                }
                if exists {
                    return Err(err);
                }
                current = o;
            }
            Err(e) if !exists && is_transient(&e) => {}
            _ => return Err(err),
        }
    }
}

/// Deletes `current` (deletes are idempotent: gone is done), retrying
/// transient failures.
pub async fn delete(
    r: &dyn Reconciler,
    cx: &Ctx,
    spec: &ResourceSpec,
    current: &Observed,
    budget: RetryBudget,
    stop: &AtomicBool,
) -> Result<(), ReconcileError> {
    let mut attempt = 0;
    loop {
        let err = match r.delete(cx, spec, current).await {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        if !is_transient(&err) || attempt >= budget.retries || stop.load(Ordering::SeqCst) {
            return Err(err);
        }
        notice(&spec.address, "delete failed", &err, attempt);
        tokio::time::sleep(budget.delay(attempt)).await;
        attempt += 1;
    }
}
