//! The one renderer of user-facing output: plans (text, JSON, Markdown),
//! apply summaries and outputs. Colour only when asked for.

use drctl_core::apply::ApplyReport;
use drctl_core::diff::FieldChange;
use drctl_core::model::{contains_unknown, is_unknown, TAG_ADDRESS, TAG_ENV};
use drctl_core::orphans::{Orphan, OrphanReason};
use drctl_core::plan::{Action, Plan, ResourceChange};
use owo_colors::OwoColorize;
use serde_json::{json, Value};
use std::fmt::Write;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once a write to stdout failed (the reader went away, e.g. `| head`).
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
/// Set once a write to stderr failed.
static STDERR_CLOSED: AtomicBool = AtomicBool::new(false);

/// The live view on screen (progress bars), if any: every write pauses it,
/// so a line printed meanwhile (an interrupt acknowledgement, a retry
/// notice) is neither overdrawn nor leaves a stale spinner line behind.
static LIVE: std::sync::Mutex<Option<indicatif::MultiProgress>> = std::sync::Mutex::new(None);

/// Registers (or, with `None`, clears) the live view writes must pause.
/// While one is on screen the terminal does not echo control characters:
/// the `^C` it echoes for Ctrl-C moves the cursor behind the live view's
/// back, and its next redraw left a stale spinner line on screen (seen in
/// tmux with the default `echoctl`).
pub fn set_live(view: Option<indicatif::MultiProgress>) {
    if let Ok(mut live) = LIVE.lock() {
        echo_control_chars(view.is_none());
        *live = view;
    }
}

/// The terminal's `ECHOCTL` flag on stderr, as found before the live view
/// turned it off (restored when the view goes).
#[cfg(unix)]
static SAVED_ECHOCTL: std::sync::Mutex<Option<bool>> = std::sync::Mutex::new(None);

#[cfg(unix)]
fn echo_control_chars(on: bool) {
    use rustix::termios::{tcgetattr, tcsetattr, LocalModes, OptionalActions};
    let Ok(mut saved) = SAVED_ECHOCTL.lock() else {
        return;
    };
    let stderr = std::io::stderr();
    // Not a terminal (a pipe, CI): nothing to change.
    let Ok(mut t) = tcgetattr(&stderr) else {
        return;
    };
    let want = if on {
        match saved.take() {
            Some(was) => was,
            None => return,
        }
    } else {
        saved.get_or_insert(t.local_modes.contains(LocalModes::ECHOCTL));
        false
    };
    t.local_modes.set(LocalModes::ECHOCTL, want);
    let _ = tcsetattr(&stderr, OptionalActions::Now, &t);
}

#[cfg(not(unix))]
fn echo_control_chars(_on: bool) {}

/// Takes the live view off the screen for good (before an immediate exit,
/// which would otherwise leave its last spinner lines behind).
pub fn clear_live() {
    let live = LIVE.lock().ok().and_then(|mut l| l.take());
    if let Some(view) = live {
        let _ = view.clear();
    }
    echo_control_chars(true);
}

/// The first stdout write error that was not a closed pipe (a full disk,
/// an I/O error): the output is incomplete, and the run exits 1 saying so
/// ([`stdout_failure`]).
static STDOUT_FAILED: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

fn write_to(
    closed: &AtomicBool,
    failed: Option<&std::sync::Mutex<Option<String>>>,
    w: impl std::io::Write,
    text: &str,
) {
    if closed.load(Ordering::Relaxed) {
        return;
    }
    let live = LIVE.lock().ok().and_then(|l| l.clone());
    let result = match live {
        Some(view) => view.suspend(|| write_now(w, text)),
        None => write_now(w, text),
    };
    // Any write error stops printing to the stream, never the work. A
    // closed pipe (`| head`) is the reader's choice; any other error lost
    // output someone wanted, and is reported at the end.
    if let Err(e) = result {
        closed.store(true, Ordering::Relaxed);
        if let (Some(failed), false) = (failed, e.kind() == std::io::ErrorKind::BrokenPipe) {
            if let Ok(mut f) = failed.lock() {
                f.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

fn write_now(mut w: impl std::io::Write, text: &str) -> std::io::Result<()> {
    w.write_all(text.as_bytes()).and_then(|_| w.flush())
}

/// Why stdout could not be written, when that was not a closed pipe
/// (e.g. "No space left on device (os error 28)"): the output is
/// incomplete.
pub fn stdout_failure() -> Option<String> {
    STDOUT_FAILED.lock().ok().and_then(|f| f.clone())
}

/// Prints `text` to stdout as is. Every line drctl prints goes through here
/// (or [`err`]): a closed stdout stops the printing, not the run, so the
/// exit code says how the work went.
pub fn out(text: &str) {
    write_to(
        &STDOUT_CLOSED,
        Some(&STDOUT_FAILED),
        std::io::stdout().lock(),
        text,
    );
}

/// Prints `text` to stderr as is; a closed stderr is ignored like stdout.
pub fn err(text: &str) {
    write_to(&STDERR_CLOSED, None, std::io::stderr().lock(), text);
}

/// True once stdout was found closed.
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

/// `println!` through the renderer: never panics on a closed stdout.
#[macro_export]
macro_rules! outln {
    () => { $crate::render::out("\n") };
    ($($t:tt)*) => { $crate::render::out(&format!("{}\n", format_args!($($t)*))) };
}

/// `print!` through the renderer.
#[macro_export]
macro_rules! outp {
    ($($t:tt)*) => { $crate::render::out(&format!($($t)*)) };
}

/// `eprintln!` through the renderer: never panics on a closed stderr.
#[macro_export]
macro_rules! errln {
    () => { $crate::render::err("\n") };
    ($($t:tt)*) => { $crate::render::err(&format!("{}\n", format_args!($($t)*))) };
}

/// How output looks.
#[derive(Clone, Copy, Debug)]
pub struct Style {
    pub color: bool,
}

impl Style {
    fn paint(&self, text: &str, action: Action) -> String {
        if !self.color {
            return text.to_string();
        }
        match action {
            Action::Create => text.green().to_string(),
            Action::Delete => text.red().to_string(),
            Action::Update => text.yellow().to_string(),
            Action::Replace => text.magenta().to_string(),
            Action::NoOp => text.to_string(),
        }
    }
    pub fn bold(&self, text: &str) -> String {
        if self.color {
            text.bold().to_string()
        } else {
            text.to_string()
        }
    }
    pub fn red(&self, text: &str) -> String {
        if self.color {
            text.red().to_string()
        } else {
            text.to_string()
        }
    }
    pub fn green(&self, text: &str) -> String {
        if self.color {
            text.green().to_string()
        } else {
            text.to_string()
        }
    }
    pub fn yellow(&self, text: &str) -> String {
        if self.color {
            text.yellow().to_string()
        } else {
            text.to_string()
        }
    }
}

/// A property value as the plan shows it.
pub fn show_value(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "null".into(),
        Some(v) if is_unknown(v) || contains_unknown(v) => "(known after apply)".into(),
        Some(Value::String(s)) if s.contains('\n') => format!("<<{} lines>>", s.lines().count()),
        Some(v) => v.to_string(),
    }
}

fn heading(c: &ResourceChange) -> &'static str {
    match (c.action, c.drift) {
        (Action::Create, true) => "was deleted outside of drctl and will be created again",
        (Action::Create, false) => "will be created",
        (Action::Update, _) => "will be updated in place",
        (Action::Replace, _) if c.create_before_destroy => {
            "must be replaced (create replacement and then destroy)"
        }
        (Action::Replace, _) => "must be replaced",
        (Action::Delete, _) => "will be destroyed",
        (Action::NoOp, _) => "is found and will be recorded in the state",
    }
}

/// A `tags` change key by key (`+ Owner = "x"`, `~ Name = "a" -> "b"`,
/// `- Team = "y"`), sorted by key; also a tag map carried in a nested spec
/// (a launch template version's `instance_tags`, `volume_tags`); `None` for
/// any other field.
fn tag_lines(f: &FieldChange) -> Option<Vec<(Action, String)>> {
    let map_or_absent = |v: Option<&Value>| v.is_none_or(Value::is_object);
    let nested = f.field.ends_with("_tags")
        && map_or_absent(f.before.as_ref())
        && map_or_absent(f.after.as_ref());
    if f.field != drctl_core::diff::TAGS && !nested {
        return None;
    }
    let map = |v: Option<&Value>| -> std::collections::BTreeMap<String, String> {
        v.and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default()
    };
    let (before, after) = (map(f.before.as_ref()), map(f.after.as_ref()));
    let keys: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let q = |v: &String| Value::String(v.clone()).to_string();
    Some(
        keys.into_iter()
            .filter_map(|k| match (before.get(k), after.get(k)) {
                (None, Some(a)) => Some((Action::Create, format!("{k} = {}", q(a)))),
                (Some(b), None) => Some((Action::Delete, format!("{k} = {}", q(b)))),
                (Some(b), Some(a)) if a != b => {
                    Some((Action::Update, format!("{k} = {} -> {}", q(b), q(a))))
                }
                _ => None,
            })
            .collect(),
    )
}

fn field_line(out: &mut String, style: &Style, action: Action, f: &FieldChange) {
    if let (Some(lines), Action::Update | Action::Replace) = (tag_lines(f), action) {
        let _ = writeln!(
            out,
            "      {} {}:",
            style.paint("~", Action::Update),
            f.field
        );
        for (a, text) in lines {
            let _ = writeln!(out, "          {} {text}", style.paint(a.symbol(), a));
        }
        return;
    }
    let (sym, text) = match action {
        Action::Create => (
            "+",
            format!("{} = {}", f.field, show_value(f.after.as_ref())),
        ),
        Action::Delete => (
            "-",
            format!("{} = {}", f.field, show_value(f.before.as_ref())),
        ),
        _ => (
            "~",
            format!(
                "{} = {} -> {}",
                f.field,
                show_value(f.before.as_ref()),
                show_value(f.after.as_ref())
            ),
        ),
    };
    let sym_action = if action == Action::Replace {
        Action::Update
    } else {
        action
    };
    let _ = write!(out, "      {} {text}", style.paint(sym, sym_action));
    if let Some(r) = &f.replace_reason {
        let _ = write!(out, " {}", style.red(&format!("# forces replacement: {r}")));
    }
    out.push('\n');
}

/// The plan as text: drift first, then every action, then the count line.
pub fn plan_text(plan: &Plan, style: &Style) -> String {
    let mut out = String::new();
    drift_text(&mut out, plan, style);
    let acting: Vec<&ResourceChange> = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp || c.adopt)
        .collect();
    if acting.is_empty() && plan.forget.is_empty() && plan.deposed.is_empty() {
        let _ = writeln!(
            out,
            "{} The cloud matches the environment plan ({} resources checked).",
            style.green("No changes."),
            plan.changes.len()
        );
    } else {
        let _ = writeln!(out, "drctl will perform the following actions:");
        for c in &acting {
            out.push('\n');
            let _ = writeln!(out, "  # {} {}", style.bold(c.address.as_str()), heading(c));
            for r in &c.reasons {
                let _ = writeln!(out, "  # ({r})");
            }
            let sym = match c.action {
                Action::NoOp => "=",
                // Terraform's symbol for create-before-destroy.
                Action::Replace if c.create_before_destroy => "+/-",
                a => a.symbol(),
            };
            // Pad before painting: colour codes must not count as width.
            let _ = writeln!(
                out,
                "{} {} \"{}\"",
                style.paint(&format!("{sym:>3}"), c.action),
                c.kind,
                c.name
            );
            for f in &c.fields {
                field_line(&mut out, style, c.action, f);
            }
        }
        for a in &plan.forget {
            let _ = writeln!(
                out,
                "\n  # {a} is already gone and will be removed from the state"
            );
        }
        deposed_text(&mut out, plan, style);
        out.push('\n');
    }
    orphans_text(&mut out, plan, style);
    for w in &plan.warnings {
        let _ = writeln!(out, "Warning: {w}");
    }
    let _ = writeln!(
        out,
        "{} {}.",
        style.bold("Plan:"),
        counts_text(&plan.counts())
    );
    out
}

/// The summary's figures as Terraform words them: `1 to import, ` first
/// and `, 1 to forget` last, each only when not zero, so that every plan
/// with changes (`-detailed-exitcode` 2) has a figure that is not zero.
pub fn counts_text(c: &drctl_core::plan::Counts) -> String {
    let mut out = String::new();
    if c.import > 0 {
        let _ = write!(out, "{} to import, ", c.import);
    }
    let _ = write!(
        out,
        "{} to add, {} to change, {} to destroy",
        c.add, c.change, c.destroy
    );
    if c.forget > 0 {
        let _ = write!(out, ", {} to forget", c.forget);
    }
    out
}

/// The deposed objects (old halves of unfinished create-before-destroy
/// replacements): `-` to delete, or already gone and forgotten.
fn deposed_text(out: &mut String, plan: &Plan, style: &Style) {
    for d in &plan.deposed {
        let what = format!("{} (deposed object {})", d.address, d.key);
        match &d.prior {
            Some(o) => {
                let _ = writeln!(out, "\n  # {} will be destroyed", style.bold(&what));
                let _ = writeln!(
                    out,
                    "  # (the old object {} of a replacement; deleted once what used it has moved)",
                    o.id
                );
                let _ = writeln!(
                    out,
                    "{} {} \"{}\"",
                    style.paint(&format!("{:>3}", "-"), Action::Delete),
                    d.kind,
                    d.name
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "\n  # {what} is already gone and will be removed from the state"
                );
            }
        }
    }
}

/// "Objects changed outside of drctl": every resource flagged as drift, with
/// its drifted fields only.
fn drift_text(out: &mut String, plan: &Plan, style: &Style) {
    let drifted: Vec<&ResourceChange> = plan.changes.iter().filter(|c| c.drift).collect();
    if !drifted.is_empty() {
        let _ = writeln!(out, "{}", style.bold("Objects changed outside of drctl:"));
        out.push('\n');
        for c in &drifted {
            let _ = writeln!(out, "  # {} ({})", c.address, c.name);
            if c.action == Action::Create {
                let _ = writeln!(out, "      deleted");
            }
            for f in c.fields.iter().filter(|f| f.drift) {
                if let Some(lines) = tag_lines(f) {
                    // Seen from the cloud: what was removed, changed, added.
                    let _ = writeln!(
                        out,
                        "      ~ {}: changed outside of drctl (the cloud now has -> drctl applied):",
                        f.field
                    );
                    for (a, text) in lines {
                        let (sym, how) = match a {
                            Action::Create => ("-", "removed"),
                            Action::Delete => ("+", "added"),
                            _ => ("~", "changed"),
                        };
                        let _ = writeln!(out, "          {sym} {text} ({how})");
                    }
                    continue;
                }
                let _ = writeln!(
                    out,
                    "      ~ {}: drctl applied {}, the cloud now has {}",
                    f.field,
                    show_value(f.after.as_ref()),
                    show_value(f.before.as_ref())
                );
            }
        }
        out.push('\n');
    }
}

/// `plan -refresh-only`: what changed outside of drctl, and what recording
/// it does to the state; `apply_hint` (when not empty) is the command that
/// records it.
pub fn refresh_only_text(
    plan: &Plan,
    refresh: &drctl_core::refresh::RefreshOnly,
    style: &Style,
    apply_hint: &str,
) -> String {
    let mut out = String::new();
    if refresh.is_empty() {
        let _ = writeln!(
            out,
            "{} The state matches the cloud ({} resources checked).",
            style.green("No changes."),
            plan.changes.len()
        );
        return out;
    }
    drift_text(&mut out, plan, style);
    for a in &refresh.forget {
        if !plan.changes.iter().any(|c| &c.address == a) {
            let _ = writeln!(out, "  # {a} is gone from the cloud and from the plan\n");
        }
    }
    let _ = writeln!(
        out,
        "This is a refresh-only plan: applying it records these changes in the state\nand changes nothing in the cloud."
    );
    if !apply_hint.is_empty() {
        let _ = writeln!(out, "To record them, run: {apply_hint}");
    }
    let _ = writeln!(
        out,
        "\n{} {} to update in the state, {} to remove from the state.",
        style.bold("Refresh:"),
        refresh.update.len(),
        refresh.forget.len()
    );
    out
}

/// After an interrupted apply or destroy: one line saying how many changes
/// were not started and that running `rerun` again finishes them; `None`
/// when nothing was interrupted.
pub fn interrupted_text(report: &ApplyReport, rerun: &str, destroy: bool) -> Option<String> {
    if !was_interrupted(report) {
        return None;
    }
    // Resources with nothing to do (no-op) are not changes.
    let n = report
        .skipped
        .iter()
        .filter(|(_, a, _)| *a != Action::NoOp)
        .count();
    Some(format!(
        "Interrupted: {n} change{} not started. Run `{rerun}` again to {}.",
        if n == 1 { " was" } else { "s were" },
        if destroy {
            "finish the destroy"
        } else {
            "finish them"
        }
    ))
}

/// True when the stop flag left work unstarted (the walk's reason).
fn was_interrupted(report: &ApplyReport) -> bool {
    report
        .skipped
        .iter()
        .any(|(_, _, why)| why.starts_with("interrupted"))
}

/// Resources tagged with the env that nothing accounts for: shown, never acted on.
fn orphans_text(out: &mut String, plan: &Plan, style: &Style) {
    if plan.orphans.is_empty() {
        return;
    }
    if !out.is_empty() && !out.ends_with("\n\n") {
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "{} resources tagged {TAG_ENV}={} that neither the state nor the plan knows.\ndrctl will not touch them: delete them, or remove their drctl: tags to keep them.",
        style.bold("Orphans:"),
        plan.env
    );
    for o in &plan.orphans {
        out.push('\n');
        let _ = writeln!(
            out,
            "  {} {} ({}) {}",
            style.yellow("!"),
            o.resource_type,
            o.region,
            o.arn
        );
        let _ = writeln!(
            out,
            "      {TAG_ADDRESS} = {}",
            o.address.as_deref().unwrap_or("(none)")
        );
        let _ = writeln!(out, "      why: {}", o.reason.explain());
    }
    out.push('\n');
}

fn orphan_json(o: &Orphan) -> Value {
    let (reason, recorded_id) = match &o.reason {
        OrphanReason::NoAddressTag => ("no-address-tag", None),
        OrphanReason::UnknownAddress => ("unknown-address", None),
        OrphanReason::Duplicate { recorded_id } => ("duplicate", recorded_id.clone()),
    };
    json!({
        "arn": o.arn,
        "resource_type": o.resource_type,
        "region": o.region,
        "address": o.address,
        "reason": reason,
        "recorded_id": recorded_id,
        "detail": o.reason.explain(),
    })
}

fn action_names(a: Action) -> Vec<&'static str> {
    match a {
        Action::NoOp => vec!["no-op"],
        Action::Create => vec!["create"],
        Action::Update => vec!["update"],
        Action::Replace => vec!["delete", "create"],
        Action::Delete => vec!["delete"],
    }
}

/// The versioned JSON plan document (see README, "JSON plan format").
pub fn plan_json(plan: &Plan) -> Value {
    let changes: Vec<Value> = plan
        .changes
        .iter()
        .map(|c| {
            let before: serde_json::Map<String, Value> =
                c.fields.iter().filter_map(|f| Some((f.field.clone(), f.before.clone()?))).collect();
            let after: serde_json::Map<String, Value> = c
                .fields
                .iter()
                .filter_map(|f| {
                    let v = f.after.clone()?;
                    Some((f.field.clone(), if contains_unknown(&v) { json!("(known after apply)") } else { v }))
                })
                .collect();
            json!({
                "address": c.address,
                "kind": c.kind,
                "region": c.region.clone().unwrap_or_else(|| "global".into()),
                "name": c.name,
                "actions": if c.action == Action::Replace && c.create_before_destroy { vec!["create", "delete"] } else { action_names(c.action) },
                "drift": c.drift,
                "adopt": c.adopt,
                "replace_reasons": c.fields.iter().filter_map(|f| f.replace_reason.as_ref().map(|r| json!({"field": f.field, "reason": r}))).collect::<Vec<_>>(),
                "reasons": c.reasons,
                "physical_id": c.prior.as_ref().map(|p| p.id.clone()),
                "change": {
                    "before": before,
                    "after": after,
                    "drifted_fields": c.fields.iter().filter(|f| f.drift).map(|f| f.field.clone()).collect::<Vec<_>>(),
                }
            })
        })
        .collect();
    let mut changes = changes;
    changes.extend(plan.deposed.iter().map(|d| {
        json!({
            "address": d.address,
            "deposed": d.key,
            "kind": d.kind,
            "region": d.region.clone().unwrap_or_else(|| "global".into()),
            "name": d.name,
            "actions": if d.prior.is_some() { vec!["delete"] } else { vec!["forget"] },
            "physical_id": d.prior.as_ref().map(|p| p.id.clone()),
        })
    }));
    let c = plan.counts();
    json!({
        "format_version": plan.format_version,
        "drctl_version": env!("CARGO_PKG_VERSION"),
        "env": plan.env,
        "destroy": plan.destroy,
        "state": {"lineage": plan.lineage, "serial": plan.serial},
        "resource_changes": changes,
        "forget": plan.forget,
        "warnings": plan.warnings,
        "orphans": plan.orphans.iter().map(orphan_json).collect::<Vec<_>>(),
        "summary": {"add": c.add, "change": c.change, "destroy": c.destroy, "import": c.import, "forget": c.forget, "has_changes": plan.has_changes()},
    })
}

/// The closing summary of an apply or destroy.
pub fn report_text(report: &ApplyReport, style: &Style, destroy: bool) -> String {
    let mut out = String::new();
    let c = report.counts();
    // Work an interrupt left unstarted is one line (interrupted_text), not
    // an error per resource.
    let interrupted = was_interrupted(report);
    if !report.failed.is_empty() || (!report.skipped.is_empty() && !interrupted) {
        let _ = writeln!(out, "\n{}", style.red("Errors:"));
        for (a, action, e) in &report.failed {
            let _ = writeln!(out, "  {} ({}): {e}", a, action_names(*action).join("/"));
        }
        for (a, action, why) in report.skipped.iter().filter(|_| !interrupted) {
            let _ = writeln!(
                out,
                "  {} ({}) not done: {why}",
                a,
                action_names(*action).join("/")
            );
        }
    }
    let verb = if report.success() {
        style.green("complete!")
    } else {
        style.red("incomplete.")
    };
    if destroy {
        let _ = writeln!(out, "\nDestroy {verb} Resources: {} destroyed.", c.destroy);
    } else {
        let _ = writeln!(
            out,
            "\nApply {verb} Resources: {} added, {} changed, {} destroyed.",
            c.add, c.change, c.destroy
        );
    }
    out
}

#[cfg(test)]
mod summary_tests {
    use super::*;

    /// Every plan with changes has a figure that is not zero: one that only
    /// records found resources or forgets gone ones says so (Terraform's
    /// "to import", "to forget"), so `-detailed-exitcode` 2 never sits
    /// beside "0 to add, 0 to change, 0 to destroy".
    #[test]
    fn the_summary_counts_imports_and_forgets() {
        use drctl_core::plan::Counts;
        let c = |import, forget| Counts {
            import,
            forget,
            ..Counts::default()
        };
        assert_eq!(counts_text(&c(0, 0)), "0 to add, 0 to change, 0 to destroy");
        assert_eq!(
            counts_text(&c(1, 0)),
            "1 to import, 0 to add, 0 to change, 0 to destroy"
        );
        assert_eq!(
            counts_text(&c(0, 2)),
            "0 to add, 0 to change, 0 to destroy, 2 to forget"
        );
    }
}
