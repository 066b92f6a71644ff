//! A compact Markdown summary of a plan for pull requests: orphans first
//! (if any), counts, a table of changes by region with replacements and
//! deletions first, and the full text diff in a collapsible block.

use drctl_core::model::{TAG_ADDRESS, TAG_ENV};
use drctl_core::plan::{Action, Plan};
use std::fmt::Write;

pub fn summary(plan: &Plan, full_text: &str) -> String {
    let c = plan.counts();
    let mut out = String::new();
    let _ = writeln!(out, "### drctl plan: `{}`\n", plan.env);
    // Before the early "No changes": orphans matter even then.
    if !plan.orphans.is_empty() {
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
    if !plan.has_changes() {
        let _ = writeln!(
            out,
            "**No changes.** The cloud matches the environment plan.\n"
        );
        return out;
    }
    let drift = plan.changes.iter().filter(|c| c.drift).count();
    let _ = writeln!(
        out,
        "**{} to add, {} to change, {} to destroy**{}\n",
        c.add,
        c.change,
        c.destroy,
        if drift > 0 {
            format!(" — {drift} changed outside of drctl")
        } else {
            String::new()
        }
    );
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
    let dangerous: Vec<_> = rows
        .iter()
        .filter(|c| matches!(c.action, Action::Delete | Action::Replace))
        .collect();
    if !dangerous.is_empty() {
        let _ = writeln!(
            out,
            "> [!WARNING]\n> {} resource(s) will be deleted or replaced:",
            dangerous.len()
        );
        for c in &dangerous {
            let why = if c.reasons.is_empty() {
                String::new()
            } else {
                format!(" — {}", c.reasons.join("; "))
            };
            let _ = writeln!(out, "> - `{}` `{}`{why}", c.action.symbol(), c.address);
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "| | region | resource | kind | changed fields |\n|---|---|---|---|---|"
    );
    for c in rows {
        let fields: Vec<String> = c.fields.iter().map(|f| format!("`{}`", f.field)).collect();
        let _ = writeln!(
            out,
            "| `{}` | {} | `{}`{} | {} | {} |",
            c.action.symbol(),
            c.region.as_deref().unwrap_or("global"),
            c.address,
            if c.drift { " (drift)" } else { "" },
            c.kind,
            fields.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "\n<details><summary>Full plan</summary>\n\n```diff\n{}```\n</details>",
        full_text
    );
    out
}
