//! Rendering of costs (the model is the drctl-cost crate): the cost section
//! that ends `drctl plan` (text, `cost` object of the JSON plan, Markdown),
//! and the full breakdown of `drctl cost` (text and JSON).

use crate::render::Style;
use drctl_cost::compare::delta;
use drctl_cost::{CostChange, Estimate, Line, Money};
use serde_json::{json, Value};
use std::fmt::Write;

/// `$1,234.56`
pub fn usd(v: f64) -> String {
    let cents = (v.abs() * 100.0).round() as u64;
    let (whole, frac) = (cents / 100, cents % 100);
    let digits = whole.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if v < 0.0 && cents > 0 { "-" } else { "" };
    format!("{sign}${grouped}.{frac:02}")
}

/// `+$412.30`, `-$10.00`, `$0.00`
pub fn signed_usd(v: f64) -> String {
    if (v * 100.0).round() == 0.0 {
        usd(0.0)
    } else if v > 0.0 {
        format!("+{}", usd(v))
    } else {
        usd(v)
    }
}

/// An amount, or "$x + unknown" when some lines have no price.
pub fn money(m: Money) -> String {
    match m.known() {
        Some(v) => usd(v),
        None if m.usd == 0.0 => "unknown".into(),
        None => format!("{} + unknown", usd(m.usd)),
    }
}

fn delta_text(before: Money, after: Money) -> String {
    delta(before, after).map_or_else(|| "unknown".into(), signed_usd)
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn money_json(m: Money) -> Value {
    m.known().map_or(Value::Null, |v| json!(round2(v)))
}

fn quantity(q: f64) -> String {
    let s = format!("{q:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    // Thousands separators for the whole part.
    let (whole, frac) = s.split_once('.').map_or((s, None), |(w, f)| (w, Some(f)));
    let mut out = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(f) = frac {
        out.push('.');
        out.push_str(f);
    }
    out
}

/// A unit price: cents at least, every significant digit.
fn unit_price(u: f64) -> String {
    let full = format!("{u}");
    match full.split_once('.') {
        Some((_, f)) if f.len() > 2 => format!("${full}"),
        _ => format!("${u:.2}"),
    }
}

const BASIS: &str = "on-demand list prices, 730 h/month";

/// The section that ends `drctl plan`: per region before → after and the
/// difference; with `verbose`, every resource whose cost changes.
pub fn plan_section(c: &CostChange, style: &Style, verbose: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{} (monthly, {BASIS}; usage-based lines from [usage]):",
        style.bold("Cost estimate")
    );
    let _ = writeln!(
        out,
        "  {:<12} {:>18} {:>18} {:>14}",
        "region", "before", "after", "difference"
    );
    for r in c.regions() {
        let _ = writeln!(
            out,
            "  {:<12} {:>18} {:>18} {:>14}",
            r.region,
            money(r.before),
            money(r.after),
            delta_text(r.before, r.after)
        );
    }
    let (b, a) = (c.total_before(), c.total_after());
    let _ = writeln!(
        out,
        "  {:<12} {:>18} {:>18} {:>14}",
        "total",
        money(b),
        money(a),
        delta_text(b, a)
    );
    if verbose {
        let changed = c.changed_resources();
        if !changed.is_empty() {
            let _ = writeln!(out, "\n  Resources whose cost changes:");
        }
        for r in changed {
            let zero = Money::default();
            let (rb, ra) = (r.before.unwrap_or(zero), r.after.unwrap_or(zero));
            let _ = writeln!(
                out,
                "    {:<46} {:>12} -> {:>12} {:>12}",
                r.address.as_str(),
                r.before.map_or("-".into(), money),
                r.after.map_or("-".into(), money),
                delta_text(rb, ra)
            );
        }
    }
    for w in c.warnings() {
        let _ = writeln!(out, "{} {w}", style.yellow("Warning:"));
    }
    let line = match delta(b, a) {
        Some(d) => format!("{}/month", signed_usd(d)),
        None => "unknown: a price is missing (see the warnings)".into(),
    };
    let _ = writeln!(out, "{} {line}", style.bold("Cost:"));
    out
}

/// The `cost` object of the JSON plan.
pub fn plan_json(c: &CostChange) -> Value {
    let regions: Vec<Value> = c
        .regions()
        .into_iter()
        .map(|r| {
            json!({
                "region": r.region,
                "before_usd": money_json(r.before),
                "after_usd": money_json(r.after),
                "delta_usd": delta(r.before, r.after).map(round2),
                "unknown_lines": {"before": r.before.unknown_lines, "after": r.after.unknown_lines},
            })
        })
        .collect();
    let resources: Vec<Value> = c
        .changed_resources()
        .into_iter()
        .map(|r| {
            let zero = Money::default();
            json!({
                "address": r.address,
                "kind": r.kind,
                "region": r.region,
                "before_usd": r.before.map_or(json!(0.0), money_json),
                "after_usd": r.after.map_or(json!(0.0), money_json),
                "delta_usd": delta(r.before.unwrap_or(zero), r.after.unwrap_or(zero)).map(round2),
            })
        })
        .collect();
    let (b, a) = (c.total_before(), c.total_after());
    json!({
        "currency": "USD",
        "period": "month",
        "hours_per_month": c.hours_per_month,
        "prices": c.prices,
        "regions": regions,
        "total": {"before_usd": money_json(b), "after_usd": money_json(a), "delta_usd": delta(b, a).map(round2)},
        "resources": resources,
        "warnings": c.warnings(),
    })
}

/// The cost part of the Markdown summary.
pub fn markdown(c: &CostChange) -> String {
    let mut out = String::new();
    let (b, a) = (c.total_before(), c.total_after());
    let headline = match delta(b, a) {
        Some(d) => format!("{}/month", signed_usd(d)),
        None => "unknown (a price is missing)".into(),
    };
    let _ = writeln!(out, "\n**Cost: {headline}** ({BASIS})\n");
    let _ = writeln!(
        out,
        "| region | before | after | difference |\n|---|---:|---:|---:|"
    );
    for r in c.regions() {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            r.region,
            money(r.before),
            money(r.after),
            delta_text(r.before, r.after)
        );
    }
    let _ = writeln!(
        out,
        "| **total** | {} | {} | **{}** |",
        money(b),
        money(a),
        delta_text(b, a)
    );
    let changed = c.changed_resources();
    if !changed.is_empty() {
        let _ = writeln!(out, "\n<details><summary>Cost by resource</summary>\n\n| resource | before | after |\n|---|---:|---:|");
        for r in changed {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} |",
                r.address,
                r.before.map_or("-".into(), money),
                r.after.map_or("-".into(), money)
            );
        }
        let _ = writeln!(out, "\n</details>");
    }
    for w in c.warnings() {
        let _ = writeln!(out, "\n> [!WARNING]\n> {w}");
    }
    out
}

fn line_text(out: &mut String, l: &Line) {
    let mark = match (l.usage_based, l.usage_default) {
        (true, true) => "* (default)",
        (true, false) => "*",
        _ => "",
    };
    let price = match l.unit_usd {
        Some(u) => format!("{} {} × {}", quantity(l.quantity), l.unit, unit_price(u)),
        None => format!("no price for {}", l.price),
    };
    let _ = writeln!(
        out,
        "      {:<58} {:>12}  {price}{}",
        l.what,
        l.monthly_usd.map_or("unknown".into(), usd),
        if mark.is_empty() {
            String::new()
        } else {
            format!("  {mark}")
        }
    );
}

/// `drctl cost`: every region, every billable resource and line,
/// baseline vs usage-based.
pub fn breakdown_text(
    env: &str,
    e: &Estimate,
    prices: &str,
    unconfirmed: usize,
    style: &Style,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} of env {env} ({BASIS})", style.bold("Monthly cost"));
    let _ = writeln!(out, "Prices: {prices}");
    let (mut base_all, mut usage_all) = (Money::default(), Money::default());
    for region in e.regions() {
        let (mut base, mut usage) = (Money::default(), Money::default());
        for r in e.resources.iter().filter(|r| r.region == region) {
            let (b, u) = r.split();
            base.add(b);
            usage.add(u);
        }
        base_all.add(base);
        usage_all.add(usage);
        let mut total = base;
        total.add(usage);
        let _ = writeln!(
            out,
            "\n{}  {}  (baseline {}, usage-based {})",
            style.bold(&region),
            money(total),
            money(base),
            money(usage)
        );
        for r in e.resources.iter().filter(|r| r.region == region) {
            let _ = writeln!(out, "  {:<62} {:>12}", r.address.as_str(), money(r.total()));
            for l in &r.lines {
                line_text(&mut out, l);
            }
        }
    }
    let mut total = base_all;
    total.add(usage_all);
    let _ = writeln!(
        out,
        "\n{} {}/month (baseline {}, usage-based {})",
        style.bold("Total:"),
        money(total),
        money(base_all),
        money(usage_all)
    );
    let _ = writeln!(
        out,
        "* usage-based: the quantity comes from the plan's [usage] table; (default) marks drctl's documented default (README, \"Cost\")."
    );
    let _ = writeln!(
        out,
        "{} resources have no charge of their own (VPC, subnets, security groups, IAM, ...).",
        e.free.len()
    );
    if unconfirmed > 0 {
        let _ = writeln!(out, "{unconfirmed} of the prices used are marked confirmed = false in the price table: check them against the AWS page each names.");
    }
    for w in &e.warnings {
        let _ = writeln!(out, "{} {w}", style.yellow("Warning:"));
    }
    out
}

/// `drctl cost --json`.
pub fn breakdown_json(env: &str, e: &Estimate, prices: &str, hours: f64) -> Value {
    let regions: Vec<Value> = e
        .regions()
        .into_iter()
        .map(|region| {
            let (mut base, mut usage) = (Money::default(), Money::default());
            let resources: Vec<Value> = e
                .resources
                .iter()
                .filter(|r| r.region == region)
                .map(|r| {
                    let (b, u) = r.split();
                    base.add(b);
                    usage.add(u);
                    json!({
                        "address": r.address,
                        "kind": r.kind,
                        "monthly_usd": money_json(r.total()),
                        "lines": r.lines.iter().map(|l| json!({
                            "what": l.what,
                            "quantity": l.quantity,
                            "unit": l.unit,
                            "unit_usd": l.unit_usd,
                            "monthly_usd": l.monthly_usd.map(round2),
                            "usage_based": l.usage_based,
                            "usage_default": l.usage_default,
                            "price": l.price,
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect();
            let mut total = base;
            total.add(usage);
            json!({
                "region": region,
                "monthly_usd": money_json(total),
                "baseline_usd": money_json(base),
                "usage_usd": money_json(usage),
                "unknown_lines": total.unknown_lines,
                "resources": resources,
            })
        })
        .collect();
    let total = e.total();
    json!({
        "env": env,
        "currency": "USD",
        "period": "month",
        "hours_per_month": hours,
        "prices": prices,
        "regions": regions,
        "total_usd": money_json(total),
        "unknown_lines": total.unknown_lines,
        "free_resources": e.free.len(),
        "warnings": e.warnings,
    })
}
