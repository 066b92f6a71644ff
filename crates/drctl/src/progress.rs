//! Apply/destroy progress: a live view (indicatif) on a terminal, plain
//! lines otherwise (one when a resource starts, one when it ends, and a
//! "still ..." line every 10 s), JSON lines with `--json`.

use drctl_core::apply::Event;
use drctl_core::model::Address;
use drctl_core::plan::Action;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::io::IsTerminal;
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
pub fn spawn(mut rx: UnboundedReceiver<Event>, mode: Mode) -> JoinHandle<()> {
    tokio::spawn(async move {
        let multi = (mode == Mode::Live).then(MultiProgress::new);
        let mut bars: BTreeMap<Address, ProgressBar> = BTreeMap::new();
        let mut in_flight: BTreeMap<Address, (Action, Instant)> = BTreeMap::new();
        let mut tick = tokio::time::interval(Duration::from_secs(10));
        tick.tick().await;
        let say = |multi: &Option<MultiProgress>, line: String| match multi {
            Some(m) => {
                let _ = m.println(line);
            }
            None => println!("{line}"),
        };
        loop {
            tokio::select! {
                ev = rx.recv() => {
                    let Some(ev) = ev else { break };
                    match ev {
                        Event::Started { address, action } => {
                            let (start, _, _) = verbs(action);
                            match mode {
                                Mode::Json => println!("{}", serde_json::json!({"type": "start", "address": address, "action": format!("{action:?}").to_lowercase()})),
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
                        }
                        Event::Finished { address, action, elapsed: took, error } => {
                            in_flight.remove(&address);
                            if let Some(pb) = bars.remove(&address) {
                                pb.finish_and_clear();
                            }
                            let (_, done, _) = verbs(action);
                            match (mode, error) {
                                (Mode::Json, e) => println!("{}", serde_json::json!({"type": "finish", "address": address, "elapsed_seconds": took.as_secs_f64(), "error": e})),
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
    })
}
