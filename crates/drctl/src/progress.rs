//! Apply/destroy progress: a live view (indicatif) on a terminal, plain
//! lines otherwise (one when a resource starts, one when it ends, and a
//! "still ..." line every 10 s), JSON lines with `--json`.

use drctl_core::apply::Event;
use drctl_core::engine::Engine;
use drctl_core::model::Address;
use drctl_core::plan::Action;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinHandle;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Live,
    Lines,
    Json,
}

impl Mode {
    pub fn choose(json: bool) -> Mode {
        if json {
            Mode::Json
        } else if std::io::stdout().is_terminal() {
            Mode::Live
        } else {
            Mode::Lines
        }
    }
}

fn verbs(a: Action) -> (&'static str, &'static str, &'static str) {
    match a {
        Action::Create => ("Creating...", "Creation complete", "Still creating..."),
        Action::Replace => (
            "Creating (replacement)...",
            "Creation complete",
            "Still creating...",
        ),
        Action::Update => (
            "Modifying...",
            "Modifications complete",
            "Still modifying...",
        ),
        Action::Delete => (
            "Destroying...",
            "Destruction complete",
            "Still destroying...",
        ),
        Action::NoOp => ("Recording...", "Recorded", "Still recording..."),
    }
}

/// "1m10s" / "7s".
pub fn elapsed(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// Renders events until the sender is dropped.
pub fn spawn(rx: UnboundedReceiver<Event>, mode: Mode) -> JoinHandle<()> {
    spawn_counted(rx, mode, Arc::default())
}

/// [`spawn`], keeping `in_flight` at the number of changes started and not
/// yet finished (the interrupt message names it).
pub fn spawn_counted(
    mut rx: UnboundedReceiver<Event>,
    mode: Mode,
    in_flight_count: Arc<AtomicUsize>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let multi = (mode == Mode::Live).then(MultiProgress::new);
        crate::render::set_live(multi.clone());
        let mut bars: BTreeMap<Address, ProgressBar> = BTreeMap::new();
        let mut in_flight: BTreeMap<Address, (Action, Instant)> = BTreeMap::new();
        let mut tick = tokio::time::interval(Duration::from_secs(10));
        tick.tick().await;
        let say = |multi: &Option<MultiProgress>, line: String| match multi {
            Some(m) => {
                let _ = m.println(line);
            }
            None => crate::outln!("{line}"),
        };
        loop {
            tokio::select! {
                ev = rx.recv() => {
                    let Some(ev) = ev else { break };
                    match ev {
                        Event::Started { address, action } => {
                            let (start, _, _) = verbs(action);
                            match mode {
                                Mode::Json => crate::outln!("{}", serde_json::json!({"type": "start", "address": address, "action": format!("{action:?}").to_lowercase()})),
                                Mode::Live => {
                                    if let Some(m) = &multi {
                                        let pb = m.add(ProgressBar::new_spinner());
                                        pb.set_style(ProgressStyle::with_template("{spinner} {msg} [{elapsed}]").unwrap_or_else(|_| ProgressStyle::default_spinner()));
                                        pb.set_message(format!("{address}: {start}"));
                                        pb.enable_steady_tick(Duration::from_millis(120));
                                        bars.insert(address.clone(), pb);
                                    }
                                }
                                Mode::Lines => say(&multi, format!("{address}: {start}")),
                            }
                            in_flight.insert(address, (action, Instant::now()));
                            in_flight_count.store(in_flight.len(), Ordering::SeqCst);
                        }
                        Event::Finished { address, action, elapsed: took, error } => {
                            in_flight.remove(&address);
                            in_flight_count.store(in_flight.len(), Ordering::SeqCst);
                            if let Some(pb) = bars.remove(&address) {
                                pb.finish_and_clear();
                            }
                            let (_, done, _) = verbs(action);
                            match (mode, error) {
                                (Mode::Json, e) => crate::outln!("{}", serde_json::json!({"type": "finish", "address": address, "elapsed_seconds": took.as_secs_f64(), "error": e})),
                                (_, None) => say(&multi, format!("{address}: {done} after {}", elapsed(took))),
                                (_, Some(e)) => say(&multi, format!("{address}: failed after {}: {e}", elapsed(took))),
                            }
                        }
                    }
                }
                _ = tick.tick(), if mode == Mode::Lines => {
                    for (address, (action, since)) in &in_flight {
                        let (_, _, still) = verbs(*action);
                        say(&multi, format!("{address}: {still} [{} elapsed]", elapsed(since.elapsed())));
                    }
                }
            }
        }
        crate::render::set_live(None);
    })
}

/// How often plan says where its reads are when there is no terminal
/// (Terraform's "Still creating..." cadence).
const READ_LINE_EVERY: Duration = Duration::from_secs(10);

/// Plan's reads, counted: a live `Reading… [40/76, 12s elapsed]` line on a
/// terminal (stderr, cleared when done so no stale line stays), one such
/// line every 10 s otherwise. Stderr, so that `--json` stdout stays clean.
pub struct ReadProgress {
    done: Arc<AtomicUsize>,
    finished: Arc<tokio::sync::Notify>,
    task: JoinHandle<()>,
}

impl ReadProgress {
    /// Starts showing progress over `total` reads.
    pub fn start(total: usize) -> ReadProgress {
        let done = Arc::new(AtomicUsize::new(0));
        let finished = Arc::new(tokio::sync::Notify::new());
        let live = std::io::stderr().is_terminal();
        let (d, f) = (done.clone(), finished.clone());
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let line = |n: usize| {
                format!(
                    "Reading\u{2026} [{n}/{total}, {} elapsed]",
                    elapsed(started.elapsed())
                )
            };
            if live {
                let view = MultiProgress::new();
                let pb = view.add(ProgressBar::new_spinner());
                crate::render::set_live(Some(view));
                pb.set_style(
                    ProgressStyle::with_template("{spinner} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                pb.enable_steady_tick(Duration::from_millis(120));
                loop {
                    pb.set_message(line(d.load(Ordering::SeqCst)));
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                        _ = f.notified() => break,
                    }
                }
                pb.finish_and_clear();
                crate::render::set_live(None);
            } else {
                let mut tick = tokio::time::interval(READ_LINE_EVERY);
                tick.tick().await;
                loop {
                    tokio::select! {
                        _ = tick.tick() => crate::errln!("{}", line(d.load(Ordering::SeqCst))),
                        _ = f.notified() => break,
                    }
                }
            }
        });
        ReadProgress {
            done,
            finished,
            task,
        }
    }

    /// `engine` with every read the planner finishes counted into this
    /// progress.
    pub fn counting<'a>(&self, engine: &Engine<'a>) -> Engine<'a> {
        engine.counting_reads(self.done.clone())
    }

    /// Stops and clears the progress line (waits for it to be cleared).
    pub async fn finish(self) {
        // notify_one keeps the permit if the task is not waiting right now.
        self.finished.notify_one();
        let _ = self.task.await;
    }
}
