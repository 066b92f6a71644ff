//! `drctl drill`: parses the options, runs the drill (drctl-core's phases
//! over drctl-aws's calls) with the state lock held, renders the report.

use crate::cli::{DrillArgs, DrillMethod, Global};
use crate::commands::{open_session, ExitReleasing, Session};
use crate::drill_report;
use crate::render::Style;
use anyhow::{anyhow, Context, Result};
use drctl_aws::drill::{AwsDrill, Topology};
use drctl_core::drill::{self, DrillOptions, DrillReport, Event, Method, PlanProbe};
use drctl_core::state::StateStore;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

fn method(m: DrillMethod) -> Method {
    match m {
        DrillMethod::Asg => Method::Asg,
        DrillMethod::Sg => Method::Sg,
        DrillMethod::HealthCheck => Method::HealthCheck,
    }
}

/// Prints one line through the renderer: a closed stdout stops the
/// printing, never the drill (which must fail back).
fn out(line: &str) {
    crate::outln!("{line}");
}

/// `drctl drill`: `--abort` undoes an unfinished drill, `--check` runs
/// readiness alone, otherwise the whole drill runs; the timeline is printed
/// as it happens (on stderr with `--json`), then the report. Exit 0 when it
/// passed, 1 when not.
pub async fn drill_cmd(g: &Global, a: &DrillArgs, style: Style) -> Result<ExitCode> {
    let Session {
        env_plan,
        mut store,
        aws,
        engine,
        graph,
        _lock,
        interrupts_delegated,
        ..
    } = open_session(g, &a.env.env, "drctl drill", true).await?;
    // The drill handles Ctrl-C itself (it fails back first).
    interrupts_delegated.store(true, std::sync::atomic::Ordering::SeqCst);
    let topology = Topology::from_state(&store.state, &env_plan)?;
    let cloud = AwsDrill::new(aws.clone(), topology);
    let opts = DrillOptions {
        env: a.env.env.clone(),
        method: method(a.method),
        targets: env_plan.drill_targets,
        poll: a.poll_interval,
        timeout: a.timeout,
    };
    let aws_for_plan = aws.clone();
    let probe = drill::engine_probe(&engine, &graph, store.state.clone(), move || {
        aws_for_plan.forget_reads()
    });

    let mut sink = timeline_printer(a.json, style);
    if a.abort {
        let undone = drill::abort(&cloud, &mut store, &opts, &mut sink).await?;
        if !undone {
            out("No drill in progress: nothing to undo.");
        }
        return Ok(ExitCode::SUCCESS);
    }

    let report = if a.check {
        drill::check(
            &cloud,
            &probe,
            &env_plan.secondary_region,
            &opts.env,
            opts.targets,
            &mut sink,
        )
        .await?
    } else {
        run_watching_ctrl_c(
            &cloud,
            &probe,
            &mut store,
            &opts,
            &env_plan.secondary_region,
            _lock.exit_handle(),
            &mut sink,
        )
        .await?
    };
    render(a, &report, &style)?;
    Ok(if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Prints each timeline line as it comes: on stdout, or on stderr with
/// `--json` (stdout then holds the report alone).
fn timeline_printer(json: bool, style: Style) -> impl FnMut(Event) + Send {
    move |e: Event| {
        let line = drill_report::event_line(&e, &style);
        if json {
            crate::errln!("{line}");
        } else {
            out(&line);
        }
    }
}

/// [`drill::run`] with Ctrl-C watched: the first ends observation (the
/// drill still fails back and deletes its canaries), a second exits at once
/// through `exit` (the state lock released). An error names `--abort`.
async fn run_watching_ctrl_c(
    cloud: &AwsDrill,
    probe: &PlanProbe<'_>,
    store: &mut StateStore,
    opts: &DrillOptions,
    secondary_region: &str,
    exit: ExitReleasing,
    sink: &mut (dyn FnMut(Event) + Send),
) -> Result<DrillReport> {
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let stop = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                stop.store(true, Ordering::SeqCst);
                crate::errln!("\nInterrupt received: failing back and deleting the canaries. A second Ctrl-C exits at once; then run `drctl drill --abort`.");
                if tokio::signal::ctrl_c().await.is_ok() {
                    exit.exit(
                        130,
                        "Exiting now (state lock released). Run `drctl drill --abort` to undo the drill.",
                    )
                    .await;
                }
            }
        })
    };
    let r = drill::run(cloud, probe, store, opts, secondary_region, &stop, sink).await;
    watcher.abort();
    r.map_err(|e| {
        anyhow!("{e}").context(
            "the drill stopped; its journal is in the state: run `drctl drill --abort` to undo it",
        )
    })
}

/// Writes the `--markdown` file, then prints the report: pretty JSON with
/// `--json`, else a blank line and the text report.
fn render(a: &DrillArgs, report: &DrillReport, style: &Style) -> Result<()> {
    if let Some(path) = &a.markdown {
        std::fs::write(path, drill_report::markdown(report))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if a.json {
        out(&serde_json::to_string_pretty(report)?);
    } else {
        out("");
        for line in drill_report::text(report, style).lines() {
            out(line);
        }
    }
    Ok(())
}
