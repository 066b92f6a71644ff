//! How a drill's events and report look: one timeline line per event, the
//! text summary, and the Markdown report (`--markdown FILE`).

use crate::render::Style;
use drctl_core::drill::{DrillReport, Event};

/// `[+  1.234s] 2026-01-01T00:00:00.000Z injection   inverted health check ...`
pub fn event_line(e: &Event, style: &Style) -> String {
    match e {
        Event::Phase(p) => format!(
            "[+{:>8.3}s] {} {:<11} {}",
            p.t_seconds,
            p.at,
            style.bold(p.phase.as_str()),
            p.message
        ),
        Event::Progress(m) => format!("            {m}"),
    }
}

fn secs(v: Option<f64>) -> String {
    v.map(|s| format!("{s:.3} s"))
        .unwrap_or_else(|| "not measured".into())
}

fn verdict(measured: Option<f64>, target: Option<f64>) -> &'static str {
    match (measured, target) {
        (Some(m), Some(t)) if m <= t => "ok",
        (Some(_), Some(_)) => "BREACH",
        _ => "-",
    }
}

/// Rows: (measure, measured, target, verdict).
fn rows(r: &DrillReport) -> Vec<(String, String, String, &'static str)> {
    let t = &r.targets;
    vec![
        (
            "RTO (failover)".into(),
            secs(r.rto_seconds),
            secs(Some(t.rto_seconds)),
            verdict(r.rto_seconds, Some(t.rto_seconds)),
        ),
        (
            "RPO DynamoDB".into(),
            secs(r.rpo_seconds.dynamodb),
            secs(t.rpo_seconds.dynamodb),
            verdict(r.rpo_seconds.dynamodb, t.rpo_seconds.dynamodb),
        ),
        (
            "RPO S3".into(),
            secs(r.rpo_seconds.s3),
            secs(t.rpo_seconds.s3),
            verdict(r.rpo_seconds.s3, t.rpo_seconds.s3),
        ),
        ("Failback".into(), secs(r.failback_seconds), "-".into(), "-"),
    ]
}

/// The summary printed after the timeline.
pub fn text(r: &DrillReport, style: &Style) -> String {
    let mut s = String::new();
    match r.method {
        Some(m) => s.push_str(&format!(
            "DR drill of env '{}' (method {}):\n",
            r.env,
            m.as_str()
        )),
        None => s.push_str(&format!("DR readiness of env '{}':\n", r.env)),
    }
    if r.method.is_some() {
        for (what, measured, target, v) in rows(r) {
            let v = match v {
                "BREACH" => style.red(v),
                "ok" => style.green(v),
                v => v.to_string(),
            };
            s.push_str(&format!(
                "  {what:<15} {measured:>14}   target {target:>12}   {v}\n"
            ));
        }
        s.push_str(&format!(
            "  Clients may add up to {} s of DNS TTL to the RTO; lags are measured to about {:.2} s.\n",
            r.dns_ttl_seconds, r.rpo_resolution_seconds
        ));
    } else {
        for c in &r.readiness {
            let mark = if c.ok {
                style.green("ok")
            } else {
                style.red("FAILED")
            };
            s.push_str(&format!("  {mark:<6} {} ({})\n", c.name, c.detail));
        }
    }
    if r.passed {
        s.push_str(&style.green(if r.method.is_some() {
            "Drill passed."
        } else {
            "Ready for a drill."
        }));
        s.push('\n');
    } else {
        s.push_str(&style.red(if r.method.is_some() {
            "Drill failed:"
        } else {
            "Not ready:"
        }));
        s.push('\n');
        for b in &r.breaches {
            s.push_str(&format!("  - {b}\n"));
        }
    }
    s
}

/// The Markdown report: result, measures against targets, readiness, timeline.
pub fn markdown(r: &DrillReport) -> String {
    let mut s = String::new();
    let title = match r.method {
        Some(m) => format!("DR drill: `{}` (method `{}`)", r.env, m.as_str()),
        None => format!("DR readiness: `{}`", r.env),
    };
    s.push_str(&format!("## {title}\n\n"));
    s.push_str(&format!(
        "**{}** — {} to {}\n\n",
        if r.passed { "PASSED" } else { "FAILED" },
        r.started_at,
        r.finished_at
    ));
    if r.method.is_some() {
        s.push_str("| measure | measured | target | result |\n|---|---:|---:|---|\n");
        for (what, measured, target, v) in rows(r) {
            s.push_str(&format!("| {what} | {measured} | {target} | {v} |\n"));
        }
        s.push_str(&format!(
            "\nClients may add up to {} s of DNS TTL to the RTO. Replication lags are measured to about {:.2} s.\n\n",
            r.dns_ttl_seconds, r.rpo_resolution_seconds
        ));
    }
    if !r.breaches.is_empty() {
        s.push_str("### Breaches\n\n");
        for b in &r.breaches {
            s.push_str(&format!("- {}\n", b.replace('|', "\\|")));
        }
        s.push('\n');
    }
    s.push_str("### Readiness\n\n| check | result | detail |\n|---|---|---|\n");
    for c in &r.readiness {
        s.push_str(&format!(
            "| {} | {} | {} |\n",
            c.name.replace('|', "\\|"),
            if c.ok { "ok" } else { "FAILED" },
            c.detail.replace('|', "\\|")
        ));
    }
    s.push_str("\n### Timeline\n\n| t+ (s) | at (UTC) | phase | event |\n|---:|---|---|---|\n");
    for p in &r.phases {
        s.push_str(&format!(
            "| {:.3} | {} | {} | {} |\n",
            p.t_seconds,
            p.at,
            p.phase.as_str(),
            p.message.replace('|', "\\|")
        ));
    }
    s
}
