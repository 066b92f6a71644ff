//! The drill's timeline: each line is handed to the caller as it happens
//! and kept for the report.

use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

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

/// Records the timeline and hands each event to the caller at once.
pub(super) struct Timeline<'a> {
    start: Instant,
    /// When the drill started, RFC 3339 UTC with milliseconds.
    pub(super) started_at: String,
    /// Every [`Event::Phase`] so far, in order.
    pub(super) events: Vec<PhaseEvent>,
    sink: &'a mut (dyn FnMut(Event) + Send),
}

impl<'a> Timeline<'a> {
    /// Starts the clock now.
    pub(super) fn new(sink: &'a mut (dyn FnMut(Event) + Send)) -> Self {
        Timeline {
            start: Instant::now(),
            started_at: now_rfc3339(),
            events: vec![],
            sink,
        }
    }
    /// Records and sends a line stamped `t` (seconds since the start).
    pub(super) fn at(&mut self, phase: Phase, t: Instant, message: impl Into<String>) {
        let e = PhaseEvent {
            at: now_rfc3339(),
            t_seconds: round3(t.saturating_duration_since(self.start).as_secs_f64()),
            phase,
            message: message.into(),
        };
        (self.sink)(Event::Phase(e.clone()));
        self.events.push(e);
    }
    /// [`at`](Self::at) now.
    pub(super) fn log(&mut self, phase: Phase, message: impl Into<String>) {
        self.at(phase, Instant::now(), message)
    }
    /// Sends a "still waiting" line; it is not kept.
    pub(super) fn progress(&mut self, message: String) {
        (self.sink)(Event::Progress(message));
    }
}

/// Now, RFC 3339 UTC with milliseconds.
pub(super) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `x` rounded to milliseconds (the report's precision).
pub(super) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// `d` as `01m05s`, for progress lines.
pub(super) fn elapsed_label(d: Duration) -> String {
    let s = d.as_secs();
    format!("{:02}m{:02}s", s / 60, s % 60)
}
