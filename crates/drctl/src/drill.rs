//! `drctl drill`: parses the options, runs the drill (drctl-core's phases
//! over drctl-aws's calls) with the state lock held, renders the report.

use crate::cli::{DrillArgs, DrillMethod, Global};
use crate::commands::{open_session, Session};
use crate::drill_report;
use crate::render::Style;
use anyhow::{anyhow, Context, Result};
use drctl_aws::drill::{AwsDrill, Topology};
use drctl_core::drill::{self, DrillError, DrillOptions, Event, Method};
use drctl_core::plan::Action;
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

    // Plans read the state as it was before the drill (the drill changes no
    // resource entry, only its journal).
    let snapshot = store.state.clone();
    let (engine, graph, aws_for_plan) = (&engine, &graph, aws.clone());
    let probe = drill::plan_probe(move || {
        let snapshot = snapshot.clone();
        let aws = aws_for_plan.clone();
        async move {
            aws.forget_reads();
            let plan = engine
                .plan(graph, &snapshot, true)
                .await
                .map_err(|e| DrillError::Cloud(format!("planning: {e}")))?;
            let mut changes: Vec<String> = plan
                .changes
                .iter()
                .filter(|c| c.action != Action::NoOp || c.adopt)
                .map(|c| {
                    format!(
                        "{} ({})",
                        c.address,
                        format!("{:?}", c.action).to_lowercase()
                    )
                })
                .collect();
            changes.extend(plan.forget.iter().map(|a| format!("{a} (forget)")));
            Ok(changes)
        }
    });

    let json = a.json;
    let mut sink = |e: Event| {
        let line = drill_report::event_line(&e, &style);
        if json {
            crate::errln!("{line}");
        } else {
            out(&line);
        }
    };

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
        let stop = Arc::new(AtomicBool::new(false));
        let watcher = {
            let stop = stop.clone();
            let exit = _lock.exit_handle();
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
        let r = drill::run(
            &cloud,
            &probe,
            &mut store,
            &opts,
            &env_plan.secondary_region,
            &stop,
            &mut sink,
        )
        .await;
        watcher.abort();
        r.map_err(|e| {
            anyhow!("{e}").context(
                "the drill stopped; its journal is in the state: run `drctl drill --abort` to undo it",
            )
        })?
    };

    if let Some(path) = &a.markdown {
        std::fs::write(path, drill_report::markdown(&report))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if a.json {
        out(&serde_json::to_string_pretty(&report)?);
    } else {
        out("");
        for line in drill_report::text(&report, &style).lines() {
            out(line);
        }
    }
    Ok(if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
