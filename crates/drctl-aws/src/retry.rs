//! Calling AWS, retrying what AWS says is temporary, and waiting for what
//! AWS does asynchronously. The SDK already retries throttling and
//! transient errors a few times per call; these loops cover the longer,
//! AWS-specific cases.
//!
//! One way to call AWS: [`call`] names the operation once, takes a named
//! [`Policy`] and maps the SDK error through the class table
//! ([`crate::errors`]):
//! `call("ec2:DescribeVpcs", Policy::TRANSIENT, || ec2.describe_vpcs().send())`.
//! One way to delete what AWS refuses to delete while something still uses
//! it: [`delete_when_unblocked`]. Every wait's timeout and poll interval is
//! a named [`Wait`] in its service's `mod.rs`, with its reason and source.

use crate::errors::api_error;
use crate::Aws;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use drctl_core::reconcile::{ErrorClass, ReconcileError};
use rand::Rng;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// After this long retrying one call, each further retry is told to the
/// user (not only logged): the run is never silent for more than a few
/// seconds.
pub const NOTICE_AFTER: Duration = Duration::from_secs(5);

/// The tracing target of messages meant for the user's terminal; the CLI
/// prints its events as plain lines on stderr (one constant, in the engine).
pub use drctl_core::recover::NOTICE_TARGET;

/// An exponential schedule with full jitter.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    pub initial: Duration,
    pub cap: Duration,
    pub total: Duration,
}

/// IAM changes take up to ~2 minutes to reach EC2 and Auto Scaling.
pub const IAM_PROPAGATION: Backoff = Backoff {
    initial: Duration::from_millis(250),
    cap: Duration::from_secs(2),
    total: Duration::from_secs(120),
};

/// Throttling, busy resources, transient failures.
pub const TRANSIENT: Backoff = Backoff {
    initial: Duration::from_millis(500),
    cap: Duration::from_secs(10),
    total: Duration::from_secs(300),
};

/// "Not found" just after a create is usually eventual consistency.
pub const AFTER_CREATE: Backoff = Backoff {
    initial: Duration::from_millis(250),
    cap: Duration::from_secs(2),
    total: Duration::from_secs(30),
};

impl Backoff {
    /// The pause before retry number `attempt` (0-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .initial
            .saturating_mul(2u32.saturating_pow(attempt.min(16)));
        let ceiling = exp.min(self.cap);
        let jittered = rand::thread_rng().gen_range(ceiling / 2..=ceiling);
        jittered.max(Duration::from_millis(1))
    }
}

/// Runs `op` until it succeeds, fails with a class not in `retry_on`, or
/// `schedule.total` has passed (then the last error is returned).
pub async fn retry<T, F, Fut>(
    what: &str,
    schedule: Backoff,
    retry_on: &[ErrorClass],
    mut op: F,
) -> Result<T, ReconcileError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ReconcileError>>,
{
    let started = Instant::now();
    let deadline = started + schedule.total;
    let mut attempt = 0;
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) if retry_on.contains(&e.class()) && Instant::now() < deadline => {
                let d = schedule.delay(attempt);
                tracing::debug!(what, attempt, delay_ms = d.as_millis() as u64, error = %e, "retrying");
                let waited = started.elapsed();
                if waited >= NOTICE_AFTER {
                    let code = match &e {
                        ReconcileError::Api { code, .. } => code.clone(),
                        other => other.to_string(),
                    };
                    tracing::info!(
                        target: "drctl_notice",
                        "{what}: {code}, retrying (attempt {}, {}s)",
                        attempt + 2,
                        waited.as_secs()
                    );
                }
                tokio::time::sleep(d).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// How one call (or one composite attempt) is retried: the error classes
/// that mean "try again", on which schedule, and (Route53) the service's
/// account-wide concurrency slot each attempt holds. The named policies are
/// the only ones: a call site picks one, it does not spell classes.
#[derive(Clone, Copy)]
pub struct Policy<'a> {
    /// The pauses between attempts and the total time.
    pub schedule: Backoff,
    /// The classes retried; any other error is returned at once.
    pub retry_on: &'static [ErrorClass],
    /// A concurrency slot (`Aws::permit(service)`) held during each attempt.
    pub slot: Option<(&'a Aws, &'static str)>,
}

impl Policy<'static> {
    /// One attempt: the SDK's own few retries only (reads whose caller
    /// handles every answer, creates that must not be repeated blindly).
    pub const ONCE: Policy<'static> = Policy {
        schedule: TRANSIENT,
        retry_on: &[],
        slot: None,
    };
    /// Throttling and transient failures ([`TRANSIENT`], 5 min): the classes
    /// that are temporary by nature.
    pub const TRANSIENT: Policy<'static> = Policy {
        schedule: TRANSIENT,
        retry_on: &[ErrorClass::Retryable, ErrorClass::Throttled],
        slot: None,
    };
    /// Throttling only ([`TRANSIENT`] schedule): for calls where a
    /// "retryable" answer means something else (a Route53 change batch
    /// whose values moved is re-read by the caller, not repeated).
    pub const THROTTLING: Policy<'static> = Policy {
        schedule: TRANSIENT,
        retry_on: &[ErrorClass::Throttled],
        slot: None,
    };
    /// A call naming a resource created moments ago ([`AFTER_CREATE`],
    /// 30 s): not-found and throttling, answers that mean the call did
    /// nothing, so a create without a client token is never sent twice
    /// (EC2 answers `Invalid*.NotFound` until a new id propagates).
    pub const AFTER_CREATE: Policy<'static> = Policy {
        schedule: AFTER_CREATE,
        retry_on: &[ErrorClass::NotFound, ErrorClass::Throttled],
        slot: None,
    };
    /// [`Policy::AFTER_CREATE`] plus transient failures: for idempotent
    /// calls on a fresh resource (tagging, attaching, describing it).
    pub const PROPAGATION: Policy<'static> = Policy {
        schedule: AFTER_CREATE,
        retry_on: &[
            ErrorClass::NotFound,
            ErrorClass::Retryable,
            ErrorClass::Throttled,
        ],
        slot: None,
    };
    /// A call that uses a fresh IAM role or instance profile
    /// ([`IAM_PROPAGATION`], 2 min): the error table classes AWS's
    /// "invalid instance profile / role" answers as retryable.
    pub const IAM_PROPAGATION: Policy<'static> = Policy {
        schedule: IAM_PROPAGATION,
        retry_on: &[ErrorClass::Retryable, ErrorClass::Throttled],
        slot: None,
    };
}

impl<'a> Policy<'a> {
    /// [`Policy::TRANSIENT`] holding a `route53` concurrency slot per
    /// attempt: Route53 allows five requests per second per account, and
    /// answers `PriorRequestNotComplete` to overlapping changes.
    pub fn route53(aws: &'a Aws) -> Policy<'a> {
        Policy::TRANSIENT.holding(aws, "route53")
    }

    /// This policy, each attempt holding one of `service`'s concurrency
    /// slots ([`Aws::permit`]).
    pub fn holding<'b>(self, aws: &'b Aws, service: &'static str) -> Policy<'b> {
        Policy {
            schedule: self.schedule,
            retry_on: self.retry_on,
            slot: Some((aws, service)),
        }
    }

    /// Runs `attempt` (one or more calls already mapped to
    /// [`ReconcileError`]) under this policy; `what` names it in logs,
    /// notices and errors.
    pub async fn run<T, F, Fut>(self, what: &str, mut attempt: F) -> Result<T, ReconcileError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ReconcileError>>,
    {
        retry(what, self.schedule, self.retry_on, || {
            let fut = attempt();
            async move {
                let _slot = match self.slot {
                    Some((aws, service)) => Some(aws.permit(service).await),
                    None => None,
                };
                fut.await
            }
        })
        .await
    }
}

/// Calls AWS: `send` builds and sends the request (`|| client.op()...send()`),
/// `operation` (`"ec2:DescribeVpcs"`) names it once for logs and errors,
/// `policy` says what is retried. SDK errors become classified
/// [`ReconcileError::Api`]s.
pub async fn call<T, E, R, F, Fut>(
    operation: &str,
    policy: Policy<'_>,
    mut send: F,
) -> Result<T, ReconcileError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, R>>>,
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    // Not through `run`: one async layer less (deeply nested futures
    // overflow the compiler's layout depth in the longest reconcilers).
    retry(operation, policy.schedule, policy.retry_on, || {
        let fut = send();
        async move {
            let _slot = match policy.slot {
                Some((aws, service)) => Some(aws.permit(service).await),
                None => None,
            };
            fut.await.map_err(|e| api_error(operation, e))
        }
    })
    .await
}

/// How long a wait lasts and how often it looks: every wait in drctl-aws
/// is a named constant of this type in its service's `mod.rs`, with the
/// reason for its figures and their source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wait {
    /// Give up after this long (then [`ReconcileError::Timeout`]).
    pub timeout: Duration,
    /// The steady pause between looks (the first ones are shorter, see
    /// [`wait_for`]).
    pub every: Duration,
}

impl Wait {
    /// A wait of `timeout_secs`, looking every `every_secs` seconds.
    pub const fn secs(timeout_secs: u64, every_secs: u64) -> Wait {
        Wait {
            timeout: Duration::from_secs(timeout_secs),
            every: Duration::from_secs(every_secs),
        }
    }
}

/// Calls `delete` until AWS stops answering `DependencyViolation` (the
/// class of "still in use": attached gateways, network interfaces AWS
/// removes asynchronously, records in a zone...), for at most
/// `wait.timeout`, looking again every `wait.every` at the most; a thing
/// already gone (not-found) counts as deleted. Other errors end the wait.
/// The timeout error names `what`. `delete` is usually one [`call`] with
/// [`Policy::ONCE`]: the wait is the retry.
pub async fn delete_when_unblocked<T, F, Fut>(
    what: &str,
    wait: Wait,
    delete: F,
) -> Result<(), ReconcileError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ReconcileError>>,
{
    delete_when_unblocked_or_name(what, wait, delete, || async { None }).await
}

/// [`delete_when_unblocked`] that asks `blockers` (best effort) each time
/// the delete is refused, and names its last answer in the timeout message
/// (`"...; still used by network interface(s) eni-1"`).
pub async fn delete_when_unblocked_or_name<T, F, Fut, B, BFut>(
    what: &str,
    wait: Wait,
    mut delete: F,
    mut blockers: B,
) -> Result<(), ReconcileError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ReconcileError>>,
    B: FnMut() -> BFut,
    BFut: Future<Output = Option<String>>,
{
    let last: Mutex<Option<String>> = Mutex::default();
    let result = wait_for(what, wait, || {
        let attempt = delete();
        let last = &last;
        let probe = blockers();
        async move {
            match crate::errors::gone(attempt.await.map(|_| ())) {
                Ok(()) => Ok(Some(())),
                Err(e) if e.class() == ErrorClass::DependencyViolation => {
                    tracing::debug!(what, error = %e, "still in use");
                    let named = probe.await;
                    if let Ok(mut l) = last.lock() {
                        *l = named;
                    }
                    Ok(None)
                }
                Err(e) => Err(e),
            }
        }
    })
    .await;
    match result {
        Err(ReconcileError::Timeout { what, secs }) => {
            let named = last.lock().ok().and_then(|l| l.clone());
            let what = match named {
                Some(blockers) => format!("{what}; {blockers}"),
                None => what,
            };
            Err(ReconcileError::Timeout { what, secs })
        }
        other => other,
    }
}

/// The first pause of [`wait_for`]: most waits (IAM visibility, a Route53
/// change, a table going ACTIVE) end within seconds, and a resource that is
/// ready should not keep its dependents waiting a whole poll interval.
pub const FIRST_POLL: Duration = Duration::from_secs(1);

/// Polls `check` until it returns `Some`: at once, then after
/// [`FIRST_POLL`], doubling the pause up to `wait.every` (the steady
/// interval, so a ready resource is seen at most `every` late), for at most
/// `wait.timeout`; the timeout error names `what`.
pub async fn wait_for<T, F, Fut>(what: &str, wait: Wait, mut check: F) -> Result<T, ReconcileError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, ReconcileError>>,
{
    let Wait { timeout, every } = wait;
    let start = Instant::now();
    let at_once = match check().await {
        Ok(Some(v)) => return Ok(v),
        Ok(None) => None,
        Err(e) if matches!(e.class(), ErrorClass::Throttled | ErrorClass::Retryable) => {
            tracing::debug!(what, error = %e, "transient error while waiting");
            None
        }
        Err(e) => return Err(e),
    };
    let schedule = Polling {
        first: FIRST_POLL.min(every),
        every,
        timeout,
    };
    let later = poll(what, schedule, start, check).await?;
    at_once.or(later).ok_or_else(|| ReconcileError::Timeout {
        what: what.to_string(),
        secs: timeout.as_secs(),
    })
}

/// When [`poll`] looks: after `first`, then doubling the pause up to
/// `every`, the last look at `timeout` (all counted from the poll's start).
#[derive(Clone, Copy, Debug)]
pub struct Polling {
    pub first: Duration,
    pub every: Duration,
    pub timeout: Duration,
}

/// Calls `check` on `schedule`'s looks (counted from `start`) until it
/// returns `Some`; `None` (not an error) once the timeout has passed, for
/// waits whose end is an answer too (a zone still untagged after its settle
/// time is a clash). Throttling and transient errors count as "not yet".
pub async fn poll<T, F, Fut>(
    what: &str,
    schedule: Polling,
    start: Instant,
    mut check: F,
) -> Result<Option<T>, ReconcileError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, ReconcileError>>,
{
    let mut pause = schedule.first.min(schedule.every);
    loop {
        let waited = start.elapsed();
        if waited >= schedule.timeout {
            return Ok(None);
        }
        // The last pause ends at the timeout, so the last look is at it.
        tokio::time::sleep(pause.min(schedule.timeout - waited)).await;
        pause = (pause * 2).min(schedule.every);
        match check().await {
            Ok(Some(v)) => return Ok(Some(v)),
            Ok(None) => {}
            Err(e) if matches!(e.class(), ErrorClass::Throttled | ErrorClass::Retryable) => {
                tracing::debug!(what, error = %e, "transient error while waiting");
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    fn err(class: ErrorClass) -> ReconcileError {
        ReconcileError::Api {
            operation: "Op".into(),
            class,
            code: "C".into(),
            message: String::new(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_only_the_given_classes_within_the_schedule() {
        let n = AtomicU32::new(0);
        let r = retry("x", IAM_PROPAGATION, &[ErrorClass::Retryable], || async {
            if n.fetch_add(1, Ordering::SeqCst) < 5 {
                Err(err(ErrorClass::Retryable))
            } else {
                Ok(7)
            }
        })
        .await;
        assert_eq!(r, Ok(7));
        assert_eq!(n.load(Ordering::SeqCst), 6);

        let n = AtomicU32::new(0);
        let r: Result<(), _> = retry("x", IAM_PROPAGATION, &[ErrorClass::Retryable], || async {
            n.fetch_add(1, Ordering::SeqCst);
            Err(err(ErrorClass::Fatal))
        })
        .await;
        assert!(r.is_err());
        assert_eq!(n.load(Ordering::SeqCst), 1, "fatal errors are not retried");
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_the_total_time() {
        let start = Instant::now();
        let r: Result<(), _> = retry("x", IAM_PROPAGATION, &[ErrorClass::Retryable], || async {
            Err(err(ErrorClass::Retryable))
        })
        .await;
        assert!(r.is_err());
        let took = start.elapsed();
        assert!(
            took >= IAM_PROPAGATION.total && took < IAM_PROPAGATION.total + Duration::from_secs(3),
            "{took:?}"
        );
    }

    /// A NAT that becomes available 7 s in (poll every 15 s) is seen at
    /// 7 s (checks at 0, 1, 3, 7), not at 15; then the pause stays at 15 s.
    #[tokio::test(start_paused = true)]
    async fn wait_starts_short_and_backs_off_to_the_interval() {
        let start = tokio::time::Instant::now();
        let checks = Arc::new(std::sync::Mutex::new(Vec::new()));
        let c = checks.clone();
        let seen = wait_for(
            "NAT gateway nat-1 to become available",
            Wait::secs(600, 15),
            || {
                let c = c.clone();
                async move {
                    let at = start.elapsed().as_secs();
                    c.lock().unwrap().push(at);
                    Ok((at >= 7).then_some(at))
                }
            },
        )
        .await
        .unwrap();
        assert_eq!(seen, 7);
        assert_eq!(*checks.lock().unwrap(), vec![0, 1, 3, 7]);
        checks.lock().unwrap().clear();
        let c = checks.clone();
        let _ = wait_for("x", Wait::secs(60, 15), || {
            let c = c.clone();
            async move {
                c.lock().unwrap().push(start.elapsed().as_secs());
                Ok::<Option<()>, _>(None)
            }
        })
        .await;
        let at = checks.lock().unwrap().clone();
        let gaps: Vec<u64> = at.windows(2).map(|w| w[1] - w[0]).collect();
        assert_eq!(gaps, vec![1, 2, 4, 8, 15, 15, 15], "{at:?}");
    }

    /// A short first pause, no look at once: a condition met 300 ms in is
    /// seen at 300 ms (looks at 100, 300 ms, doubling); a timeout is an
    /// answer, with the last look at it.
    #[tokio::test(start_paused = true)]
    async fn poll_starts_at_its_first_pause_and_ends_with_none() {
        let schedule = Polling {
            first: Duration::from_millis(100),
            every: Duration::from_secs(1),
            timeout: Duration::from_secs(3),
        };
        let start = tokio::time::Instant::now();
        let checks = std::sync::Mutex::new(Vec::new());
        let seen = poll("x", schedule, start, || async {
            let at = start.elapsed().as_millis() as u64;
            checks.lock().unwrap().push(at);
            Ok((at >= 300).then_some(at))
        })
        .await
        .unwrap();
        assert_eq!(seen, Some(300));
        assert_eq!(*checks.lock().unwrap(), vec![100, 300]);

        let start = tokio::time::Instant::now();
        checks.lock().unwrap().clear();
        let never: Option<()> = poll("x", schedule, start, || async {
            checks
                .lock()
                .unwrap()
                .push(start.elapsed().as_millis() as u64);
            Ok(None)
        })
        .await
        .unwrap();
        assert_eq!(never, None);
        assert_eq!(
            *checks.lock().unwrap(),
            vec![100, 300, 700, 1500, 2500, 3000]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn wait_times_out_naming_the_resource() {
        let r: Result<(), _> = wait_for(
            "NAT gateway nat-1 to become available",
            Wait::secs(600, 5),
            || async { Ok(None) },
        )
        .await;
        assert_eq!(
            r.unwrap_err().to_string(),
            "timed out after 600s waiting for NAT gateway nat-1 to become available"
        );
    }
}
