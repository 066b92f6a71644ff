//! A compact Markdown summary of a plan for pull requests: orphans first
//! (if any), counts, a table of changes by region with replacements and
//! deletions first (deposed objects among the deletions, as in the text and
//! JSON plans), and the full text diff in a collapsible block.

use drctl_core::model::{TAG_ADDRESS, TAG_ENV};
use drctl_core::plan::{Action, DeposedChange, Plan, ResourceChange};
use std::fmt::Write;

/// The action symbol the text plan shows (`+/-` for create-before-destroy).
fn symbol(c: &ResourceChange) -> &'static str {
    match c.action {
        Action::Replace if c.create_before_destroy => "+/-",
        a => a.symbol(),
    }
}

/// A deposed object as a row: `(symbol, address, why)`; `-` when it is to
/// be deleted, `forget` when it is already gone.
fn deposed_row(d: &DeposedChange) -> (&'static str, String, String) {
    let address = format!("{} (deposed object {})", d.address, d.key);
    match &d.prior {
        Some(o) => (
            "-",
            address,
            format!("the old object {} of a replacement", o.id),
        ),
        None => (
            "forget",
            address,
            "already gone; removed from the state".into(),
        ),
    }
}

/// The whole summary: heading, orphans, counts, the warning list of
/// deletions and replacements, the table of changes, the full text plan.
pub fn summary(plan: &Plan, full_text: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### drctl plan: `{}`\n", plan.env);
    // Before the early "No changes": orphans matter even then.
    orphans_block(&mut out, plan);
    if !plan.has_changes() {
        let _ = writeln!(
            out,
            "**No changes.** The cloud matches the environment plan.\n"
        );
        return out;
    }
    counts_line(&mut out, plan);
    let rows = sorted_rows(plan);
    let deposed: Vec<_> = plan.deposed.iter().map(deposed_row).collect();
    warning_block(&mut out, plan, &rows, &deposed);
    changes_table(&mut out, plan, &rows, &deposed);
    let _ = writeln!(
        out,
        "\n<details><summary>Full plan</summary>\n\n```diff\n{}```\n</details>",
        full_text
    );
    out
}

/// A CAUTION callout listing each orphan; nothing when there are none.
fn orphans_block(out: &mut String, plan: &Plan) {
    if plan.orphans.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "> [!CAUTION]\n> {} orphan(s): tagged `{TAG_ENV}={}` but neither in the state nor in the plan. drctl will not touch them: delete them, or remove their `drctl:` tags to keep them.",
        plan.orphans.len(),
        plan.env
    );
    for o in &plan.orphans {
        let _ = writeln!(
            out,
            "> - `{}` `{}` ({}{}): {}",
            o.resource_type,
            o.arn,
            o.region,
            o.address
                .as_deref()
                .map(|a| format!(", `{TAG_ADDRESS}` `{a}`"))
                .unwrap_or_default(),
            o.reason.explain()
        );
    }
    out.push('\n');
}

/// The bold counts line, with how many changes are drift.
fn counts_line(out: &mut String, plan: &Plan) {
    let drift = plan.changes.iter().filter(|c| c.drift).count();
    let _ = writeln!(
        out,
        "**{}**{}\n",
        crate::render::counts_text(&plan.counts()),
        if drift > 0 {
            format!(" — {drift} changed outside of drctl")
        } else {
            String::new()
        }
    );
}

/// The changes worth a row (every action but no-op, and adoptions), the
/// dangerous first: deletes, replaces, updates, creates; then by region and
/// address.
fn sorted_rows(plan: &Plan) -> Vec<&ResourceChange> {
    let rank = |a: Action| match a {
        Action::Delete => 0,
        Action::Replace => 1,
        Action::Update => 2,
        Action::Create => 3,
        Action::NoOp => 4,
    };
    let mut rows: Vec<_> = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp || c.adopt)
        .collect();
    rows.sort_by_key(|c| {
        (
            rank(c.action),
            c.region.clone().unwrap_or_default(),
            c.address.clone(),
        )
    });
    rows
}

/// A WARNING callout naming every resource deleted or replaced (deposed
/// objects to delete included), with the replacement reasons; nothing when
/// there are none.
fn warning_block(
    out: &mut String,
    plan: &Plan,
    rows: &[&ResourceChange],
    deposed: &[(&str, String, String)],
) {
    let dangerous: Vec<_> = rows
        .iter()
        .filter(|c| matches!(c.action, Action::Delete | Action::Replace))
        .collect();
    let deleted_deposed = plan.deposed.iter().filter(|d| d.prior.is_some()).count();
    if dangerous.is_empty() && deleted_deposed == 0 {
        return;
    }
    let _ = writeln!(
        out,
        "> [!WARNING]\n> {} resource(s) will be deleted or replaced:",
        dangerous.len() + deleted_deposed
    );
    for c in &dangerous {
        let why = if c.reasons.is_empty() {
            String::new()
        } else {
            format!(" — {}", c.reasons.join("; "))
        };
        let _ = writeln!(out, "> - `{}` `{}`{why}", symbol(c), c.address);
    }
    for (sym, address, why) in deposed.iter().filter(|(s, _, _)| *s == "-") {
        let _ = writeln!(out, "> - `{sym}` `{address}` — {why}");
    }
    out.push('\n');
}

/// The table of changes by region; deposed objects are deletions, so they
/// follow the other deletions, before the first other action.
fn changes_table(
    out: &mut String,
    plan: &Plan,
    rows: &[&ResourceChange],
    deposed: &[(&str, String, String)],
) {
    let _ = writeln!(
        out,
        "| | region | resource | kind | changed fields |\n|---|---|---|---|---|"
    );
    let first_other = rows
        .iter()
        .position(|c| c.action != Action::Delete)
        .unwrap_or(rows.len());
    for (i, c) in rows.iter().enumerate() {
        if i == first_other {
            deposed_table_rows(out, plan, deposed);
        }
        let fields: Vec<String> = c.fields.iter().map(|f| format!("`{}`", f.field)).collect();
        let _ = writeln!(
            out,
            "| `{}` | {} | `{}`{} | {} | {} |",
            symbol(c),
            c.region.as_deref().unwrap_or("global"),
            c.address,
            if c.drift { " (drift)" } else { "" },
            c.kind,
            fields.join(", ")
        );
    }
    if first_other == rows.len() {
        deposed_table_rows(out, plan, deposed);
    }
}

fn deposed_table_rows(out: &mut String, plan: &Plan, rows: &[(&str, String, String)]) {
    for (d, (sym, address, why)) in plan.deposed.iter().zip(rows) {
        let _ = writeln!(
            out,
            "| `{sym}` | {} | `{address}` | {} | {why} |",
            d.region.as_deref().unwrap_or("global"),
            d.kind,
        );
    }
}
