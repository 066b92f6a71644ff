//! Observation: after the injection, Route53's failover and the canaries'
//! replication are polled together until both are seen (RTO and RPO
//! measured), Ctrl-C, or the timeout; and the wait for failback.

use super::timeline::{elapsed_label, round3, Timeline};
use super::{
    cloud, Canary, DnsAnswer, DrillCloud, DrillError, DrillOptions, Observation, Phase, RpoSeconds,
    ALIAS_TTL_SECONDS, FIRST_CANARY_POLL,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Progress lines on long waits come this often (like `apply`'s "Still creating...").
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// Polls until `done` holds; `Ok(Some(when))` or `Ok(None)` on timeout/stop.
pub(super) async fn wait_for(
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

/// What observation measured: the RTO (`None`: no failover seen), each
/// store's RPO, and why it ended early (one sentence each).
pub(super) struct Outcome {
    pub(super) rto: Option<f64>,
    pub(super) rpo: RpoSeconds,
    pub(super) breaches: Vec<String>,
}

/// Polls the failover (every `opts.poll`) and the canaries `written` (from
/// [`FIRST_CANARY_POLL`], backing off) until the secondary serves and every
/// canary has replicated, Ctrl-C (`stop`), or `opts.timeout` after
/// `injected`. Guarantees: each measure is taken at the poll that first saw
/// it; an early end is an `Ok` with a breach per unseen measure (the caller
/// fails back either way); `Err` only for a failed cloud call.
pub(super) async fn observe(
    cloud_: &dyn DrillCloud,
    opts: &DrillOptions,
    tl: &mut Timeline<'_>,
    stop: &AtomicBool,
    injected: Instant,
    written: &[(Canary, Instant)],
) -> Result<Outcome, DrillError> {
    let mut w = Watch::new(injected, written);
    loop {
        let now = Instant::now();
        if now >= w.next_canary && !w.pending.is_empty() {
            w.poll_canaries(cloud_, opts, tl).await?;
        }
        if now >= w.next_failover && w.out.rto.is_none() {
            w.poll_failover(cloud_, opts, tl, injected).await?;
        }
        if w.out.rto.is_some() && w.pending.is_empty() {
            return Ok(w.out);
        }
        let now = Instant::now();
        if w.ends(opts, tl, stop, injected, now) {
            return Ok(w.out);
        }
        if now >= w.next_progress {
            w.progress(tl, injected, now);
        }
        tokio::time::sleep(w.until_next()).await;
    }
}

/// The observation loop's state: what is still awaited and when to look next.
struct Watch {
    /// Canaries not yet seen in their replica, with when each was written.
    pending: Vec<(Canary, Instant)>,
    /// The delay after the next canary poll (×1.5 each time, up to the poll interval).
    canary_wait: Duration,
    next_canary: Instant,
    next_failover: Instant,
    next_progress: Instant,
    /// Whether each failover milestone is already in the timeline (each is written once).
    check_down: bool,
    dns_secondary: bool,
    targets_ok: bool,
    out: Outcome,
}

impl Watch {
    /// Everything awaited, both polls due now.
    fn new(injected: Instant, written: &[(Canary, Instant)]) -> Self {
        Watch {
            pending: written.to_vec(),
            canary_wait: FIRST_CANARY_POLL,
            next_canary: Instant::now(),
            next_failover: Instant::now(),
            next_progress: injected + PROGRESS_EVERY,
            check_down: false,
            dns_secondary: false,
            targets_ok: false,
            out: Outcome {
                rto: None,
                rpo: RpoSeconds::default(),
                breaches: vec![],
            },
        }
    }

    /// One look at each pending canary: one seen records its store's RPO
    /// (poll time minus write time) and leaves `pending`; then the next
    /// canary poll is scheduled, backing off.
    async fn poll_canaries(
        &mut self,
        cloud_: &dyn DrillCloud,
        opts: &DrillOptions,
        tl: &mut Timeline<'_>,
    ) -> Result<(), DrillError> {
        let mut still = Vec::new();
        for (c, wrote) in std::mem::take(&mut self.pending) {
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
                    Canary::Dynamodb { .. } => self.out.rpo.dynamodb = Some(lag),
                    Canary::S3 { .. } => self.out.rpo.s3 = Some(lag),
                }
            } else {
                still.push((c, wrote));
            }
        }
        self.pending = still;
        self.next_canary = Instant::now() + self.canary_wait;
        self.canary_wait = (self.canary_wait.mul_f64(1.5)).min(opts.poll.max(FIRST_CANARY_POLL));
        Ok(())
    }

    /// One look at the failover: its milestones go to the timeline, and
    /// the RTO (since `injected`) is recorded once Route53 answers with
    /// the secondary and it has a healthy target.
    async fn poll_failover(
        &mut self,
        cloud_: &dyn DrillCloud,
        opts: &DrillOptions,
        tl: &mut Timeline<'_>,
        injected: Instant,
    ) -> Result<(), DrillError> {
        let t = Instant::now();
        let o = cloud(cloud_.observe().await, "observing the failover")?;
        self.milestones(&o, t, tl);
        if o.dns == DnsAnswer::Secondary && o.secondary_healthy_targets > 0 {
            let rto = round3(t.duration_since(injected).as_secs_f64());
            tl.at(Phase::Observation, t, format!("failed over: RTO {rto:.3} s (+ up to {ALIAS_TTL_SECONDS} s of DNS TTL in clients)"));
            self.out.rto = Some(rto);
        }
        self.next_failover = Instant::now() + opts.poll;
        Ok(())
    }

    /// The first time each is seen (at `t`): the primary check down,
    /// Route53 answering with the secondary, healthy secondary targets.
    fn milestones(&mut self, o: &Observation, t: Instant, tl: &mut Timeline<'_>) {
        if !self.check_down && !o.primary_check_healthy {
            self.check_down = true;
            tl.at(
                Phase::Observation,
                t,
                format!(
                    "Route53 considers the primary unhealthy ({})",
                    o.primary_check_detail
                ),
            );
        }
        if !self.dns_secondary && o.dns == DnsAnswer::Secondary {
            self.dns_secondary = true;
            tl.at(
                Phase::Observation,
                t,
                "Route53 answers with the secondary ALB",
            );
        }
        if !self.targets_ok && o.secondary_healthy_targets > 0 {
            self.targets_ok = true;
            tl.at(
                Phase::Observation,
                t,
                format!(
                    "{} healthy target(s) behind the secondary ALB",
                    o.secondary_healthy_targets
                ),
            );
        }
    }

    /// Whether observation ends early at `now`: on Ctrl-C (`stop`), or
    /// `opts.timeout` after `injected` with a breach for the failover and
    /// for each canary not yet seen.
    fn ends(
        &mut self,
        opts: &DrillOptions,
        tl: &mut Timeline<'_>,
        stop: &AtomicBool,
        injected: Instant,
        now: Instant,
    ) -> bool {
        if stop.load(Ordering::SeqCst) {
            self.out
                .breaches
                .push("interrupted before the drill finished observing".into());
            tl.log(Phase::Observation, "interrupted: failing back now");
            return true;
        }
        if now.duration_since(injected) < opts.timeout {
            return false;
        }
        if self.out.rto.is_none() {
            self.out.breaches.push(format!(
                "Route53 did not answer with a healthy secondary within {} s",
                opts.timeout.as_secs()
            ));
        }
        for (c, _) in &self.pending {
            self.out.breaches.push(format!(
                "the {} canary did not reach {} within {} s",
                c.store(),
                replica_of(c),
                opts.timeout.as_secs()
            ));
        }
        tl.log(Phase::Observation, "timed out: failing back now");
        true
    }

    /// A "still waiting" line naming what observation waits for.
    fn progress(&mut self, tl: &mut Timeline<'_>, injected: Instant, now: Instant) {
        let what = if self.out.rto.is_none() {
            "Route53 to answer with the secondary"
        } else {
            "the canaries to replicate"
        };
        tl.progress(format!(
            "observation: still waiting for {what}... [{} elapsed]",
            elapsed_label(now.duration_since(injected))
        ));
        self.next_progress += PROGRESS_EVERY;
    }

    /// Until the next poll that is still needed (at least 5 ms).
    fn until_next(&self) -> Duration {
        let next = if self.pending.is_empty() {
            self.next_failover
        } else if self.out.rto.is_some() {
            self.next_canary
        } else {
            self.next_canary.min(self.next_failover)
        };
        next.saturating_duration_since(Instant::now())
            .max(Duration::from_millis(5))
    }
}

/// Where a canary is read back, for the timeline and breaches.
fn replica_of(c: &Canary) -> String {
    match c {
        Canary::Dynamodb { replica_region, .. } => format!("the {replica_region} replica"),
        Canary::S3 { replica_bucket, .. } => format!("s3://{replica_bucket}"),
    }
}
