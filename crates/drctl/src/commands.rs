//! What each subcommand does: load, call the engine, render.

use crate::cli::{
    ApplyArgs, Cli, Command, DestroyArgs, EnvArg, ForceUnlockArgs, Global, OutputArgs, PlanArgs,
    StateCommand,
};
use crate::progress::{self, Mode};
use crate::render::{self, Style};
use crate::{outputs, savedplan};
use anyhow::{anyhow, bail, Context, Result};
use drctl_aws::Aws;
use drctl_core::apply::{ApplyReport, Executor};
use drctl_core::graph::StackGraph;
use drctl_core::lock::{self, StateLock};
use drctl_core::model::Address;
use drctl_core::plan::{Plan, Planner};
use drctl_core::reconcile::{Ctx, Registry};
use drctl_core::state::StateStore;
use drctl_stack::envplan::{self, EnvPlan};
use drctl_stack::{blueprint, kinds};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

pub async fn run(cli: Cli, style: Style) -> Result<ExitCode> {
    let g = &cli.global;
    match cli.command {
        Command::Validate(a) => validate(g, &a),
        Command::Graph(a) => graph(g, &a),
        Command::Plan(a) => plan_cmd(g, &a, style).await,
        Command::Apply(a) => apply_cmd(g, &a, style).await,
        Command::Destroy(a) => destroy_cmd(g, &a, style).await,
        Command::Output(a) => output_cmd(g, &a),
        Command::State(s) => state_cmd(g, s),
        Command::ForceUnlock(a) => force_unlock(g, &a),
    }
}

fn state_path(g: &Global, env: &str) -> PathBuf {
    g.state
        .clone()
        .unwrap_or_else(|| PathBuf::from(".drctl").join(format!("{env}.state.json")))
}

fn load_env(g: &Global, env: &str) -> Result<EnvPlan> {
    envplan::load(&g.plans_dir, env).map_err(|e| anyhow!("{e}"))
}

fn validate(g: &Global, a: &EnvArg) -> Result<ExitCode> {
    let plan = load_env(g, &a.env)?;
    let graph = StackGraph::build(blueprint::build(&plan, None))?;
    println!(
        "{} is valid: {} resources across {}, {} and global (IAM, Route53).",
        envplan::plan_path(&g.plans_dir, &a.env).display(),
        graph.len(),
        plan.primary_region,
        plan.secondary_region
    );
    Ok(ExitCode::SUCCESS)
}

fn graph(g: &Global, a: &EnvArg) -> Result<ExitCode> {
    let plan = load_env(g, &a.env)?;
    let graph = StackGraph::build(blueprint::build(&plan, None))?;
    print!("{}", graph.to_dot());
    Ok(ExitCode::SUCCESS)
}

/// Everything a plan, apply or destroy needs, with the lock held.
struct Session {
    env_plan: EnvPlan,
    store: StateStore,
    aws: Aws,
    registry: Registry,
    graph: StackGraph,
    cx: Ctx,
    _lock: StateLock,
    lock_path: PathBuf,
}

async fn open_session(g: &Global, env: &str, command: &str, need_account: bool) -> Result<Session> {
    let env_plan = load_env(g, env)?;
    let path = state_path(g, env);
    let lock = StateLock::acquire(&path, command, g.lock_timeout)?;
    let lock_path = lock.path().to_path_buf();
    let store = StateStore::open(&path, env)?;
    let aws = Aws::load(g.endpoint.clone()).await;
    let account = match (&store.state.account, need_account) {
        (Some(a), false) => a.clone(),
        _ => aws.account_id().await.context(
            "cannot reach AWS to learn the account id (check credentials, AWS_PROFILE, --endpoint)",
        )?,
    };
    if let Some(known) = &store.state.account {
        if known != &account {
            bail!(
                "the state {} belongs to account {known}, but the credentials are for account {account}",
                path.display()
            );
        }
    }
    let graph = StackGraph::build(blueprint::build(&env_plan, Some(&account)))?;
    let mut store = store;
    store.state.account = Some(account);
    Ok(Session {
        registry: drctl_aws::registry(&aws),
        cx: Ctx {
            env: env.to_string(),
        },
        env_plan,
        store,
        aws,
        graph,
        _lock: lock,
        lock_path,
    })
}

impl Session {
    /// With `DRCTL_CALL_LOG=FILE`, writes the AWS calls made (by operation)
    /// as JSON: tests and benchmarks count reads and writes with it.
    fn write_call_log(&self) {
        write_call_log(&self.aws);
    }

    async fn plan(&self, g: &Global, refresh: bool, destroy: bool) -> Result<Plan> {
        let planner = Planner {
            registry: &self.registry,
            cx: &self.cx,
            parallelism: g.parallelism as usize,
        };
        let plan = if destroy {
            planner.plan_destroy(&self.graph, &self.store.state).await?
        } else {
            let mut plan = planner
                .plan(&self.graph, &self.store.state, refresh)
                .await?;
            // Orphans need a look at the cloud: without refresh, none is made.
            if refresh {
                self.find_orphans(&mut plan).await?;
            }
            plan
        };
        Ok(plan)
    }

    /// Adds to `plan` the resources tagged with this env that neither the
    /// state nor the plan accounts for (or a warning when it may not look).
    async fn find_orphans(&self, plan: &mut Plan) -> Result<()> {
        let regions = [
            self.env_plan.primary_region.as_str(),
            self.env_plan.secondary_region.as_str(),
            // Route53 (global) is listed in us-east-1.
            self.aws.global_region(),
        ];
        let scan = drctl_aws::orphans::scan(&self.aws, &self.cx.env, &regions)
            .await
            .context("cannot list the resources tagged with this env (orphan check)")?;
        plan.orphans = drctl_core::orphans::find_orphans(&scan.items, &self.store.state, plan);
        plan.warnings.extend(scan.warnings);
        Ok(())
    }

    /// Runs the plan with progress output and Ctrl-C handling; saves state.
    async fn execute(
        self,
        g: &Global,
        plan: &Plan,
        json: bool,
    ) -> Result<(ApplyReport, StateStore)> {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let printer = progress::spawn(rx, Mode::choose(json));
        let signals = watch_interrupts(stop.clone(), self.lock_path.clone());
        let store = Arc::new(Mutex::new(self.store));
        let report = {
            let exec = Executor {
                registry: &self.registry,
                cx: self.cx.clone(),
                parallelism: g.parallelism as usize,
                rules: kinds::DESTROY_RULES,
                stop,
                events: Some(tx),
            };
            exec.apply(plan, &self.graph, store.clone()).await
        };
        signals.abort();
        let _ = printer.await;
        let store = Arc::try_unwrap(store)
            .map_err(|_| anyhow!("internal error: state still shared after apply"))?
            .into_inner()
            .map_err(|_| anyhow!("internal error: state lock poisoned"))?;
        tracing::info!(calls = ?self.aws.calls().snapshot(), "AWS calls");
        write_call_log(&self.aws);
        Ok((report, store))
    }
}

fn write_call_log(aws: &Aws) {
    if let Some(path) = std::env::var_os("DRCTL_CALL_LOG") {
        let calls = aws.calls().snapshot();
        if let Ok(text) = serde_json::to_string_pretty(&calls) {
            if let Err(e) = std::fs::write(&path, text) {
                tracing::warn!(error = %e, "cannot write DRCTL_CALL_LOG");
            }
        }
    }
}

/// First Ctrl-C: start nothing new, let in-flight calls finish, save.
/// Second: exit at once (pending records keep the state consistent).
fn watch_interrupts(stop: Arc<AtomicBool>, lock_path: PathBuf) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        stop.store(true, Ordering::SeqCst);
        eprintln!("\nInterrupt received: finishing the calls in flight and saving the state. Press Ctrl-C again to exit at once.");
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = std::fs::remove_file(&lock_path);
            eprintln!("Exiting now. Run `drctl plan` to see where things stand.");
            std::process::exit(130);
        }
    })
}

fn write_markdown(a: &PlanArgs, plan: &Plan, text_plain: &str) -> Result<()> {
    let md = crate::markdown::summary(plan, text_plain);
    if let Some(path) = &a.markdown {
        std::fs::write(path, &md).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Ok(summary) = std::env::var("GITHUB_STEP_SUMMARY") {
        if !summary.is_empty() {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&summary)
                .with_context(|| format!("cannot append to GITHUB_STEP_SUMMARY ({summary})"))?;
            f.write_all(md.as_bytes())?;
        }
    }
    Ok(())
}

async fn plan_cmd(g: &Global, a: &PlanArgs, style: Style) -> Result<ExitCode> {
    let session = open_session(g, &a.env.env, "drctl plan", a.refresh).await?;
    let plan = session.plan(g, a.refresh, a.destroy).await?;
    session.write_call_log();
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&render::plan_json(&plan))?
        );
    } else {
        print!("{}", render::plan_text(&plan, &style));
    }
    if a.markdown.is_some() || std::env::var_os("GITHUB_STEP_SUMMARY").is_some() {
        write_markdown(a, &plan, &render::plan_text(&plan, &Style { color: false }))?;
    }
    if let Some(out) = &a.out {
        savedplan::write(out, &plan, &session.env_plan.content_hash)?;
        if !a.json {
            println!(
                "\nSaved the plan to {}. Apply exactly it with: drctl apply {}",
                out.display(),
                out.display()
            );
        }
    }
    Ok(if a.detailed_exitcode && plan.has_changes() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// Asks on the terminal; without one, refuses (use --auto-approve).
fn confirm(question: &str, expected: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "no terminal to ask for confirmation: pass --auto-approve, or apply a saved plan file"
        );
    }
    print!("\n{question}\n  Enter a value: ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim() == expected)
}

async fn apply_cmd(g: &Global, a: &ApplyArgs, style: Style) -> Result<ExitCode> {
    let (session, plan, saved) = match &a.plan_file {
        Some(file) => {
            let saved = savedplan::read(file)?;
            if let Some(env) = &a.env {
                if env != &saved.env {
                    bail!(
                        "{} is a plan for env '{}', not '{env}'",
                        file.display(),
                        saved.env
                    );
                }
            }
            let session = open_session(g, &saved.env, "drctl apply", false).await?;
            savedplan::check_fresh(
                &saved,
                &session.store.state.lineage,
                session.store.state.serial,
                &session.env_plan.content_hash,
                file,
            )?;
            (session, saved.plan, true)
        }
        None => {
            let env = a
                .env
                .as_deref()
                .ok_or_else(|| anyhow!("apply needs --env NAME, or a saved plan file"))?;
            let session = open_session(g, env, "drctl apply", true).await?;
            let plan = session.plan(g, true, false).await?;
            (session, plan, false)
        }
    };
    if !a.json {
        print!("{}", render::plan_text(&plan, &style));
    }
    let env_plan = session.env_plan.clone();
    session.write_call_log();
    if !plan.has_changes() {
        if !a.json {
            println!();
            print!(
                "{}",
                outputs::text(&outputs::collect(&session.store.state, &env_plan))
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    if plan.destroy && !saved {
        bail!("internal error: a destroy plan reached apply");
    }
    if !saved
        && !a.auto_approve
        && !confirm(
            "Do you want to perform these actions? Only 'yes' will be accepted.",
            "yes",
        )?
    {
        println!("Apply cancelled.");
        return Ok(ExitCode::from(1));
    }
    let (report, store) = session.execute(g, &plan, a.json).await?;
    if !a.json {
        print!("{}", render::report_text(&report, &style, plan.destroy));
        if report.success() && !plan.destroy {
            println!("\nOutputs:\n");
            print!(
                "{}",
                outputs::text(&outputs::collect(&store.state, &env_plan))
            );
        }
    }
    Ok(if report.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn destroy_cmd(g: &Global, a: &DestroyArgs, style: Style) -> Result<ExitCode> {
    let session = open_session(g, &a.env.env, "drctl destroy", true).await?;
    let plan = session.plan(g, true, true).await?;
    session.write_call_log();
    if !a.json {
        print!("{}", render::plan_text(&plan, &style));
    }
    if !plan.has_changes() {
        return Ok(ExitCode::SUCCESS);
    }
    if !a.auto_approve {
        let q = format!(
            "Destroy everything env '{}' owns in {} and {}? There is no undo. Type the env name to confirm.",
            a.env.env, session.env_plan.primary_region, session.env_plan.secondary_region
        );
        if !confirm(&q, &a.env.env)? {
            println!("Destroy cancelled.");
            return Ok(ExitCode::from(1));
        }
    }
    let (report, _) = session.execute(g, &plan, a.json).await?;
    if !a.json {
        print!("{}", render::report_text(&report, &style, true));
    }
    Ok(if report.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn open_state_readonly(g: &Global, env: &str) -> Result<StateStore> {
    let path = state_path(g, env);
    if !path.exists() {
        bail!(
            "no state file at {} (nothing applied for env '{env}' yet, or see --state)",
            path.display()
        );
    }
    Ok(StateStore::open(&path, env)?)
}

fn output_cmd(g: &Global, a: &OutputArgs) -> Result<ExitCode> {
    let plan = load_env(g, &a.env.env)?;
    let store = open_state_readonly(g, &a.env.env)?;
    let out = outputs::collect(&store.state, &plan);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print!("{}", outputs::text(&out));
    }
    Ok(ExitCode::SUCCESS)
}

fn state_cmd(g: &Global, cmd: StateCommand) -> Result<ExitCode> {
    match cmd {
        StateCommand::List(a) => {
            let store = open_state_readonly(g, &a.env)?;
            for (addr, r) in &store.state.resources {
                println!("{addr}\t{}\t{}", r.kind, r.id);
            }
            for (addr, p) in &store.state.pending {
                println!(
                    "{addr}\t{}\t(pending {:?} since {})",
                    p.kind, p.operation, p.started_at
                );
            }
        }
        StateCommand::Show { address, env } => {
            let store = open_state_readonly(g, &env.env)?;
            let r = store
                .state
                .resources
                .get(&Address::new(address.clone()))
                .ok_or_else(|| {
                    anyhow!(
                        "{address} is not in the state (see `drctl state list --env {}`)",
                        env.env
                    )
                })?;
            println!("{}", serde_json::to_string_pretty(r)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn force_unlock(g: &Global, a: &ForceUnlockArgs) -> Result<ExitCode> {
    let path = state_path(g, &a.env.env);
    let Some(holder) = lock::read_holder(&path).or_else(|e| -> Result<_> {
        eprintln!("warning: {e}");
        Ok(None)
    })?
    else {
        if lock::lock_path(&path).exists() {
            // Unreadable lock file: offer to remove it all the same.
        } else {
            println!("No lock on {}.", path.display());
            return Ok(ExitCode::SUCCESS);
        }
        return remove_lock(&path, a.force, "an unreadable lock");
    };
    let stale = if lock::is_stale(&holder) {
        " (that process is no longer running)"
    } else {
        ""
    };
    remove_lock(&path, a.force, &format!("the lock held by {holder}{stale}"))
}

fn remove_lock(path: &Path, force: bool, what: &str) -> Result<ExitCode> {
    if !force && !confirm(&format!("Remove {what}? Only do this if no drctl is running on this state. Only 'yes' will be accepted."), "yes")? {
        println!("Lock kept.");
        return Ok(ExitCode::from(1));
    }
    lock::force_unlock(path)?;
    println!("Lock removed.");
    Ok(ExitCode::SUCCESS)
}
