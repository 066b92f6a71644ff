//! What each subcommand does: load, call the engine, render.

use crate::cli::{
    ApplyArgs, Cli, Command, CostArgs, DestroyArgs, EnvArg, ForceUnlockArgs, Global, ImportArgs,
    OutputArgs, PlanArgs, PlanScope, ShowArgs, StateCommand,
};
use crate::progress::{self, Mode};
use crate::render::{self, Style};
use crate::{backends, outputs, savedplan};
use anyhow::{anyhow, bail, Context, Result};
use drctl_aws::Aws;
use drctl_core::apply::ApplyReport;
use drctl_core::backend::{HeldLock, StateBackend};
use drctl_core::engine::Engine;
use drctl_core::graph::StackGraph;
use drctl_core::lock::{self, Liveness};
use drctl_core::model::Address;
use drctl_core::plan::{Plan, PlanError, PlanOptions};
use drctl_core::reconcile::Ctx;
use drctl_core::refresh::RefreshOnly;
use drctl_core::state::StateStore;
use drctl_stack::envplan::{self, EnvPlan};
use drctl_stack::statecfg::{self, StateConfig};
use drctl_stack::{blueprint, kinds};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

pub async fn run(cli: Cli, style: Style) -> Result<ExitCode> {
    let g = &cli.global;
    match cli.command {
        Command::Validate(a) => validate(g, &a),
        Command::Graph(a) => graph(g, &a),
        Command::Plan(a) => plan_cmd(g, &a, style).await,
        Command::Apply(a) => apply_cmd(g, &a, style).await,
        Command::Destroy(a) => destroy_cmd(g, &a, style).await,
        Command::Output(a) => output_cmd(g, &a).await,
        Command::State(s) => state_cmd(g, s).await,
        Command::ForceUnlock(a) => force_unlock(g, &a).await,
        Command::Show(a) => show_cmd(&a, style),
        Command::Import(a) => import_cmd(g, &a).await,
        Command::Drill(a) => crate::drill::drill_cmd(g, &a, style).await,
        Command::Cost(a) => cost_cmd(g, &a, style),
    }
}

/// A drctl command line that runs as printed: `drctl ARGS` with the global
/// options this run was given (--plans-dir, --state, --endpoint), so a hint
/// never sends the user to another plans folder or state.
pub fn hint(g: &Global, args: &str) -> String {
    let mut s = format!("drctl {args}");
    if g.plans_dir != Path::new("plans") {
        s.push_str(&format!(
            " --plans-dir {}",
            quote(&g.plans_dir.display().to_string())
        ));
    }
    if let Some(p) = &g.state {
        s.push_str(&format!(" --state {}", quote(p)));
    }
    if let Some(e) = &g.endpoint {
        s.push_str(&format!(" --endpoint {}", quote(e)));
    }
    s
}

/// Shell-quotes `s` when it holds anything beyond plain path characters.
fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:=@,+%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Where `env`'s state lives for commands that need no plan: `--state`,
/// else only the `[state]` table of its plan file.
pub(crate) fn state_config(g: &Global, env: &str) -> Result<StateConfig> {
    if g.state.is_some() {
        return backends::config(g, None);
    }
    statecfg::load(&g.plans_dir, env).map_err(|e| anyhow!("{e}"))
}

fn load_env(g: &Global, env: &str) -> Result<EnvPlan> {
    envplan::load(&g.plans_dir, env).map_err(|e| anyhow!("{e}"))
}

fn validate(g: &Global, a: &EnvArg) -> Result<ExitCode> {
    let plan = load_env(g, &a.env)?;
    let graph = StackGraph::build(blueprint::build(&plan, None))?;
    crate::outln!(
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
    crate::outp!("{}", graph.to_dot());
    Ok(ExitCode::SUCCESS)
}

/// `--endpoint` or `AWS_ENDPOINT_URL`, checked: the SDK's own error for a
/// URL without a scheme is unreadable.
fn endpoint(g: &Global) -> Result<Option<String>> {
    let (url, from) = match &g.endpoint {
        Some(e) => (e.clone(), "--endpoint"),
        None => match std::env::var("AWS_ENDPOINT_URL") {
            Ok(e) if !e.is_empty() => (e, "AWS_ENDPOINT_URL"),
            _ => return Ok(None),
        },
    };
    let host = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .map(|rest| rest.split(['/', '?']).next().unwrap_or(""));
    match host {
        Some(h) if !h.is_empty() && !h.contains(char::is_whitespace) => Ok(Some(url)),
        Some(_) => bail!("{from} '{url}' has no host; use a URL like http://localhost:4566"),
        None => bail!(
            "{from} '{url}' is not a URL: it needs a scheme, like http://{}",
            url.split("://").last().unwrap_or(&url)
        ),
    }
}

/// Everything a plan, apply or destroy needs, with the lock held.
pub(crate) struct Session {
    pub(crate) env_plan: EnvPlan,
    pub(crate) store: StateStore,
    pub(crate) aws: Aws,
    /// The reconcilers, the env's context, `--parallelism`, the destroy
    /// rules and the stop flag the first Ctrl-C raises during an apply.
    pub(crate) engine: Engine<'static>,
    pub(crate) graph: StackGraph,
    backend: backends::Opened,
    executing: Arc<AtomicBool>,
    in_flight: Arc<AtomicUsize>,
    /// Set by a command with its own Ctrl-C handling (drill): the session's
    /// watcher then only acts on SIGTERM.
    pub(crate) interrupts_delegated: Arc<AtomicBool>,
    pub(crate) _lock: LockGuard,
}

/// The held state lock and the signal watcher that releases it on exit;
/// dropping it stops the watcher and releases the lock.
pub(crate) struct LockGuard {
    lock: Arc<dyn HeldLock>,
    signals: tokio::task::JoinHandle<()>,
}

impl LockGuard {
    /// What a task that may end the process at once needs: the exit goes
    /// through the lock, so no exit path strands it.
    pub(crate) fn exit_handle(&self) -> ExitReleasing {
        ExitReleasing(self.lock.clone())
    }
}

/// Ends the process at once (a second Ctrl-C, SIGTERM) with the state lock
/// released first: `std::process::exit` runs no destructor, so without it
/// the next run would find the lock held.
#[derive(Clone)]
pub(crate) struct ExitReleasing(Arc<dyn HeldLock>);

impl ExitReleasing {
    /// Releases the lock (a remote lease: one DELETE), clears the live view,
    /// prints `message` on stderr and exits with `code`.
    pub(crate) async fn exit(&self, code: i32, message: &str) -> ! {
        let lock = self.0.clone();
        let _ = tokio::task::spawn_blocking(move || lock.release()).await;
        crate::render::clear_live();
        crate::errln!("{message}");
        std::process::exit(code)
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        self.signals.abort();
        self.lock.release();
    }
}

pub(crate) async fn open_session(
    g: &Global,
    env: &str,
    command: &str,
    need_account: bool,
) -> Result<Session> {
    let env_plan = load_env(g, env)?;
    let aws = Aws::load(endpoint(g)?).await;
    let backend = backends::open(&backends::config(g, Some(&env_plan))?, env, &aws).await?;
    let lock = backend.backend.lock(command, g.lock_timeout)?;
    if let Some(dead) = lock.taken_over() {
        crate::errln!(
            "Warning: took over the state lock of {dead}: that process is no longer running on this host (killed?). The state records what it had started; this run goes on from there."
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    let executing = Arc::new(AtomicBool::new(false));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let interrupts_delegated = Arc::new(AtomicBool::new(false));
    let signals = watch_signals(
        ExitReleasing(lock.clone()),
        stop.clone(),
        executing.clone(),
        in_flight.clone(),
        interrupts_delegated.clone(),
        hint(g, &format!("plan --env {env}")),
    );
    let mut store = StateStore::open_in(backend.backend.clone(), env)?;
    let account = match (&store.state.account, need_account) {
        (Some(a), false) => a.clone(),
        _ => aws.account_id().await?,
    };
    store.bind_account(&account)?;
    let graph = StackGraph::build(blueprint::build(&env_plan, Some(&account)))?;
    let engine = Engine::new(drctl_aws::registry(&aws), Ctx::new(env))
        .parallelism(g.parallelism as usize)
        .destroy_rules(kinds::DESTROY_RULES)
        .stop_flag(stop);
    Ok(Session {
        engine,
        env_plan,
        store,
        aws,
        graph,
        backend,
        executing,
        in_flight,
        interrupts_delegated,
        _lock: LockGuard { lock, signals },
    })
}

impl Session {
    /// With `DRCTL_CALL_LOG=FILE`, writes the AWS calls made (by operation)
    /// as JSON: tests and benchmarks count reads and writes with it.
    fn write_call_log(&self) {
        write_call_log(&self.aws, &self.backend);
    }

    async fn plan(&self, g: &Global, refresh: bool, destroy: bool) -> Result<Plan> {
        self.plan_scoped(g, refresh, destroy, &PlanScope::default())
            .await
    }

    /// A plan narrowed by -target, widened by -replace; with a live count of
    /// the reads on stderr.
    async fn plan_scoped(
        &self,
        g: &Global,
        refresh: bool,
        destroy: bool,
        scope: &PlanScope,
    ) -> Result<Plan> {
        if refresh && !destroy {
            self.check_existing_zone(g).await?;
        }
        let targets: Vec<Address> = scope.target.iter().map(Address::new).collect();
        let total = match drctl_core::plan::targeted(&self.graph, &targets) {
            Some(scope) if !destroy => scope.len(),
            _ => {
                let state = &self.store.state;
                let extra: std::collections::BTreeSet<&Address> = state
                    .resources
                    .keys()
                    .chain(state.pending.keys())
                    .filter(|a| self.graph.get(a).is_none())
                    .collect();
                self.graph.len() + extra.len()
            }
        };
        let progress = refresh.then(|| progress::ReadProgress::start(total));
        let engine = match &progress {
            Some(p) => p.counting(&self.engine),
            None => self.engine.clone(),
        };
        let options = PlanOptions {
            refresh,
            targets,
            replace: scope.replace.iter().map(Address::new).collect(),
        };
        let result = if destroy {
            engine.plan_destroy(&self.graph, &self.store.state).await
        } else {
            engine
                .plan_with(&self.graph, &self.store.state, &options)
                .await
        };
        if let Some(p) = progress {
            p.finish().await;
        }
        if result.is_err() {
            // A refused plan's calls are counted too (none of them mutating).
            self.write_call_log();
        }
        let mut plan = result.map_err(|e| self.explain_plan_error(g, e))?;
        if !destroy && !options.targets.is_empty() {
            plan.warnings.push(format!(
                "-target is in effect: this plan covers {} of the {} resources. Run `{}` to see the whole picture.",
                plan.changes.len(),
                self.graph.len(),
                hint(g, &format!("plan --env {}", self.engine.cx().env))
            ));
        }
        if let Some(d) = &self.store.state.drill {
            plan.warnings.push(format!(
                "a DR drill is in progress (id {}, method {}, started {}): what it changed shows as drift; finish it or run `{}` before applying",
                d.id,
                d.method.as_str(),
                d.started_at,
                hint(g, &format!("drill --abort --env {}", self.engine.cx().env))
            ));
        }
        // Orphans need a look at the whole cloud: without refresh, or with
        // a partial (-target) plan, none is made.
        if !destroy && refresh && options.targets.is_empty() {
            self.find_orphans(&mut plan).await?;
        }
        Ok(plan)
    }

    /// With `hosted_zone_id` (an existing zone): the zone exists and
    /// `domain_name` is in it, else an error naming the plan file's key.
    async fn check_existing_zone(&self, g: &Global) -> Result<()> {
        if let envplan::Dns::ExistingZone(zone) = &self.env_plan.dns {
            drctl_aws::route53::hosted_zone::check_existing(
                &self.aws,
                zone,
                &self.env_plan.domain_name,
            )
            .await
            .map_err(|e| {
                anyhow!(
                    "{}: {e}",
                    envplan::plan_path(&g.plans_dir, &self.engine.cx().env).display()
                )
            })?;
        }
        Ok(())
    }

    /// A plan error, with the commands that get the user out of it.
    fn explain_plan_error(&self, g: &Global, e: PlanError) -> anyhow::Error {
        match &e {
            PlanError::Clash(clashes) => {
                let importable = |address: &Address| {
                    self.graph
                        .get(address)
                        .and_then(|spec| self.engine.registry().get(&spec.kind).ok())
                        .is_some_and(|r| r.importable())
                };
                // Another env's resource is never imported (import refuses it).
                let (foreign, clashes): (Vec<_>, Vec<_>) = clashes
                    .iter()
                    .partition(|(_, _, detail)| detail.starts_with("it belongs to env"));
                let (import, other): (Vec<_>, Vec<_>) = clashes
                    .into_iter()
                    .partition(|(address, _, _)| importable(address));
                let mut msg = e.to_string();
                if !import.is_empty() {
                    msg.push_str("\n\nTo let drctl manage such a resource, import it (it gets this env's ownership tags):");
                    for (address, id, _) in &import {
                        msg.push_str(&format!(
                            "\n  {}",
                            hint(
                                g,
                                &format!("import --env {} {address} {id}", self.engine.cx().env)
                            )
                        ));
                    }
                    msg.push_str("\nor delete or rename it and run the plan again.");
                }
                for (address, id, detail) in &foreign {
                    msg.push_str(&format!(
                        "\n\n{id} ({address}): {detail}; drctl will not take it from there. Delete or rename it in that env, or give this env other names, and run the plan again."
                    ));
                }
                if !other.is_empty() {
                    let names: Vec<String> = other
                        .iter()
                        .map(|(address, id, _)| format!("{id} ({address})"))
                        .collect();
                    msg.push_str(&format!(
                        "\n\ndrctl cannot import {}; delete or rename {} and run the plan again.",
                        if other.len() == 1 {
                            "this kind of resource"
                        } else {
                            "these kinds of resource"
                        },
                        names.join(", ")
                    ));
                }
                anyhow!(msg)
            }
            _ => e.into(),
        }
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
        let scan = drctl_aws::orphans::scan(&self.aws, &self.engine.cx().env, &regions)
            .await
            .context("cannot list the resources tagged with this env (orphan check)")?;
        plan.orphans = drctl_core::orphans::find_orphans(&scan.items, &self.store.state, plan);
        plan.warnings.extend(scan.warnings);
        Ok(())
    }

    /// Runs the plan with progress output and Ctrl-C handling; saves state.
    async fn execute(self, plan: &Plan, json: bool) -> Result<(ApplyReport, StateStore)> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let printer = progress::spawn_counted(rx, Mode::choose(json), self.in_flight.clone());
        self.executing.store(true, Ordering::SeqCst);
        let store = Arc::new(Mutex::new(self.store));
        let report = self
            .engine
            .apply_reporting(plan, &self.graph, store.clone(), tx)
            .await;
        let _ = printer.await;
        let store = Arc::try_unwrap(store)
            .map_err(|_| anyhow!("internal error: state still shared after apply"))?
            .into_inner()
            .map_err(|_| anyhow!("internal error: state lock poisoned"))?;
        tracing::info!(calls = ?self.aws.calls().snapshot(), state_calls = ?self.backend.calls(), "AWS calls");
        write_call_log(&self.aws, &self.backend);
        Ok((report, store))
    }
}

fn write_call_log(aws: &Aws, backend: &backends::Opened) {
    if let Some(path) = std::env::var_os("DRCTL_CALL_LOG") {
        let mut calls = aws.calls().snapshot();
        calls.extend(backend.calls());
        if let Ok(text) = serde_json::to_string_pretty(&calls) {
            if let Err(e) = std::fs::write(&path, text) {
                tracing::warn!(error = %e, "cannot write DRCTL_CALL_LOG");
            }
        }
    }
}

/// Watches Ctrl-C and SIGTERM while the state lock is held. During an
/// apply the first Ctrl-C is acknowledged at once: nothing new starts, the
/// calls in flight finish and are saved. A second Ctrl-C, a Ctrl-C outside
/// an apply, or SIGTERM (a cancelled CI job) releases the state lock and
/// exits at once: the pending records keep the state consistent.
fn watch_signals(
    exit: ExitReleasing,
    stop: Arc<AtomicBool>,
    executing: Arc<AtomicBool>,
    in_flight: Arc<AtomicUsize>,
    delegated: Arc<AtomicBool>,
    plan_hint: String,
) -> tokio::task::JoinHandle<()> {
    // Listening starts here, before any change starts: a Ctrl-C from now on
    // is ours, never the default "exit at once" that would strand the lock.
    #[cfg(unix)]
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::spawn(async move {
        loop {
            #[cfg(unix)]
            let (interrupted, terminated) = (
                async {
                    match int.as_mut() {
                        Some(s) => s.recv().await.is_some(),
                        None => tokio::signal::ctrl_c().await.is_ok(),
                    }
                },
                async {
                    match term.as_mut() {
                        Some(t) => t.recv().await,
                        None => std::future::pending().await,
                    }
                },
            );
            #[cfg(not(unix))]
            let (interrupted, terminated) = (
                async { tokio::signal::ctrl_c().await.is_ok() },
                std::future::pending::<Option<()>>(),
            );
            let code = tokio::select! {
                received = interrupted => {
                    if !received {
                        return;
                    }
                    if delegated.load(Ordering::SeqCst) {
                        continue;
                    }
                    if executing.load(Ordering::SeqCst) && !stop.swap(true, Ordering::SeqCst) {
                        let n = in_flight.load(Ordering::SeqCst);
                        crate::errln!(
                            "Interrupt received: finishing {n} call{} in flight, starting nothing new; press Ctrl-C again to exit now",
                            if n == 1 { "" } else { "s" }
                        );
                        continue;
                    }
                    130
                }
                _ = terminated => 143,
            };
            exit.exit(
                code,
                &format!(
                    "Exiting now (state lock released). Run `{plan_hint}` to see where things stand."
                ),
            )
            .await;
        }
    })
}

fn write_markdown(a: &PlanArgs, plan: &Plan, text_plain: &str, cost_md: &str) -> Result<()> {
    let md = crate::markdown::summary(plan, text_plain) + cost_md;
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
    if a.scope.refresh_only && (a.destroy || !a.refresh || a.out.is_some()) {
        bail!("-refresh-only reads the cloud and records what it finds: it cannot be combined with --destroy, --refresh=false or --out");
    }
    let session = open_session(g, &a.env.env, "drctl plan", a.refresh).await?;
    let plan = session
        .plan_scoped(g, a.refresh, a.destroy, &a.scope)
        .await?;
    session.write_call_log();
    if a.scope.refresh_only {
        let refresh = RefreshOnly::from_plan(&plan, &session.store.state);
        if a.json {
            let mut doc = render::plan_json(&plan);
            doc["refresh_only"] = serde_json::to_value(&refresh)?;
            crate::outln!("{}", serde_json::to_string_pretty(&doc)?);
        } else {
            crate::outp!(
                "{}",
                render::refresh_only_text(
                    &plan,
                    &refresh,
                    &style,
                    &hint(g, &format!("apply --env {} -refresh-only", a.env.env))
                )
            );
        }
        return Ok(if a.detailed_exitcode && !refresh.is_empty() {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        });
    }
    let cost = plan_cost(&session, &plan)?;
    if a.json {
        let mut doc = render::plan_json(&plan);
        doc["cost"] = crate::cost::plan_json(&cost);
        crate::outln!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        crate::outp!("{}", render::plan_text(&plan, &style));
    }
    if a.markdown.is_some() || std::env::var_os("GITHUB_STEP_SUMMARY").is_some() {
        let plain = Style { color: false };
        let text =
            render::plan_text(&plan, &plain) + &crate::cost::plan_section(&cost, &plain, true);
        write_markdown(a, &plan, &text, &crate::cost::markdown(&cost))?;
    }
    if let Some(out) = &a.out {
        savedplan::write(out, &plan, &session.env_plan.content_hash)?;
        if !a.json {
            crate::outln!(
                "\nSaved the plan to {}. Apply exactly it with: {}",
                out.display(),
                hint(g, &format!("apply {}", quote(&out.display().to_string())))
            );
        }
    }
    // Last, so that the plan text reads as `drctl show` prints it.
    if !a.json {
        crate::outp!(
            "{}",
            crate::cost::plan_section(&cost, &style, g.verbose > 0)
        );
    }
    Ok(if a.detailed_exitcode && plan.has_changes() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// The price table: `explicit`, else `.drctl/prices.toml` (written by a
/// price refresh) when present, else the one built into drctl.
fn price_table(explicit: Option<&Path>) -> Result<drctl_cost::PriceTable> {
    let refreshed = Path::new(".drctl").join("prices.toml");
    match explicit {
        Some(p) => Ok(drctl_cost::PriceTable::load(p)?),
        None if refreshed.exists() => Ok(drctl_cost::PriceTable::load(&refreshed)?),
        None => Ok(drctl_cost::PriceTable::embedded()),
    }
}

/// What the plan does to the env's monthly cost.
fn plan_cost(session: &Session, plan: &Plan) -> Result<drctl_cost::CostChange> {
    let table = price_table(None)?;
    Ok(drctl_cost::compare(
        plan,
        session.graph.in_order(),
        &session.env_plan.usage,
        &table,
    ))
}

/// `drctl cost`: the env plan's monthly cost, from the plan file alone.
fn cost_cmd(g: &Global, a: &CostArgs, style: Style) -> Result<ExitCode> {
    let plan = load_env(g, &a.env.env)?;
    let table = price_table(a.prices.as_deref())?;
    let specs = blueprint::build(&plan, None);
    let items = drctl_cost::compare::desired_items(&specs);
    let est = drctl_cost::estimate(&items, &plan.usage, &table);
    if a.json {
        let doc =
            crate::cost::breakdown_json(&a.env.env, &est, &table.origin, table.hours_per_month);
        crate::outln!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        let unconfirmed = est.unconfirmed_prices().len();
        crate::outp!(
            "{}",
            crate::cost::breakdown_text(&a.env.env, &est, &table.origin, unconfirmed, &style)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Asks on the terminal; without one, refuses, naming the exact command
/// (`unattended`) that goes ahead without asking.
fn confirm_or(question: &str, expected: &str, unattended: &str) -> Result<bool> {
    Ok(ask(question, unattended)? == expected)
}

/// The answer typed on the terminal, trimmed.
fn ask(question: &str, unattended: &str) -> Result<String> {
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to ask for confirmation: run `{unattended}` to go ahead without asking");
    }
    crate::outp!("\n{question}\n  Enter a value: ");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim().to_string())
}

/// `drctl apply`: a saved plan file exactly as planned, or a fresh plan of
/// `--env` (narrowed by `-target`, widened by `-replace`; `-refresh-only`
/// goes to [`apply_refresh_only`]). Prints the plan, asks (unless
/// `--auto-approve` or a saved plan), executes, prints the result. Exit 0
/// when everything applied (or nothing to do), 1 when cancelled or a
/// resource failed.
async fn apply_cmd(g: &Global, a: &ApplyArgs, style: Style) -> Result<ExitCode> {
    let (session, plan, saved) = match &a.plan_file {
        Some(file) => {
            let (session, plan) = open_saved_plan(g, a.env.as_deref(), file).await?;
            (session, plan, true)
        }
        None => {
            let env = a
                .env
                .as_deref()
                .ok_or_else(|| anyhow!("apply needs --env NAME, or a saved plan file"))?;
            let session = open_session(g, env, "drctl apply", true).await?;
            let plan = session.plan_scoped(g, true, false, &a.scope).await?;
            if a.scope.refresh_only {
                return apply_refresh_only(g, a, session, plan, style);
            }
            (session, plan, false)
        }
    };
    if saved && (a.scope.refresh_only || !a.scope.target.is_empty() || !a.scope.replace.is_empty())
    {
        bail!("a saved plan is applied exactly as planned: give -target, -replace or -refresh-only to `drctl plan --out`, not to `drctl apply FILE`");
    }
    let env_name = plan.env.clone();
    if !a.json {
        crate::outp!("{}", render::plan_text(&plan, &style));
    }
    let env_plan = session.env_plan.clone();
    session.write_call_log();
    if !plan.has_changes() {
        if !a.json {
            crate::outln!();
            crate::outp!(
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
        && !confirm_or(
            "Do you want to perform these actions? Only 'yes' will be accepted.",
            "yes",
            &hint(g, &format!("apply --env {env_name} --auto-approve")),
        )?
    {
        crate::outln!("Apply cancelled.");
        return Ok(ExitCode::from(1));
    }
    let (report, store) = session.execute(&plan, a.json).await?;
    if !a.json {
        print_applied(g, a, &plan, &report, &store, &env_plan, &style);
    }
    Ok(if report.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The session for a saved plan `file` and its plan, refused (nothing
/// opened or locked) when it names another env than `--env`, and (lock
/// held) when the state or the env plan changed since it was made.
async fn open_saved_plan(g: &Global, env: Option<&str>, file: &Path) -> Result<(Session, Plan)> {
    let saved = savedplan::read(file)?;
    if let Some(env) = env {
        if env != saved.env {
            bail!(
                "{} is a plan for env '{}', not '{env}'",
                file.display(),
                saved.env
            );
        }
    }
    let mut session = open_session(g, &saved.env, "drctl apply", false).await?;
    // A plan made before the env had any state (the first `plan -out` of a
    // new env, as in Terraform's first plan of a new workspace) applies
    // while there is still none: the new state takes the plan's lineage.
    // Once a state exists, a plan of another lineage is refused below.
    let store = &mut session.store;
    if !store.exists() && store.state.serial == 0 && saved.plan.serial == 0 {
        store.state.lineage = saved.plan.lineage.clone();
    }
    savedplan::check_fresh(
        &saved,
        &session.store.state.lineage,
        session.store.state.serial,
        &session.env_plan.content_hash,
        file,
    )?;
    Ok((session, saved.plan))
}

/// After an apply: the report, the command that finishes an interrupted
/// one, and the outputs when everything applied (not after a destroy plan).
fn print_applied(
    g: &Global,
    a: &ApplyArgs,
    plan: &Plan,
    report: &ApplyReport,
    store: &StateStore,
    env_plan: &EnvPlan,
    style: &Style,
) {
    crate::outp!("{}", render::report_text(report, style, plan.destroy));
    // Re-running the same targets finishes them (not -replace: that
    // would replace again what was already replaced).
    let targets: String = a
        .scope
        .target
        .iter()
        .map(|t| format!(" --target {}", quote(t)))
        .collect();
    if let Some(line) = render::interrupted_text(
        report,
        &hint(g, &format!("apply --env {}{targets}", plan.env)),
        plan.destroy,
    ) {
        crate::outln!("{line}");
    }
    if report.success() && !plan.destroy {
        crate::outln!("\nOutputs:\n");
        crate::outp!(
            "{}",
            outputs::text(&outputs::collect(&store.state, env_plan))
        );
    }
}

async fn destroy_cmd(g: &Global, a: &DestroyArgs, style: Style) -> Result<ExitCode> {
    let session = open_session(g, &a.env.env, "drctl destroy", true).await?;
    let plan = session.plan(g, true, true).await?;
    session.write_call_log();
    if !a.json {
        crate::outp!("{}", render::plan_text(&plan, &style));
    }
    if !plan.has_changes() {
        return Ok(ExitCode::SUCCESS);
    }
    if !a.auto_approve {
        let q = format!(
            "Destroy everything env '{}' owns in {} and {}? There is no undo. Type the env name to confirm.",
            a.env.env, session.env_plan.primary_region, session.env_plan.secondary_region
        );
        let answer = ask(
            &q,
            &hint(g, &format!("destroy --env {} --auto-approve", a.env.env)),
        )?;
        if answer != a.env.env {
            if answer.eq_ignore_ascii_case("yes") {
                crate::outln!(
                    "Destroy cancelled: destroy asks for the env name, not 'yes'. Run it again and type {} to confirm.",
                    a.env.env
                );
            } else {
                crate::outln!("Destroy cancelled.");
            }
            return Ok(ExitCode::from(1));
        }
    }
    let (report, _) = session.execute(&plan, a.json).await?;
    if !a.json {
        crate::outp!("{}", render::report_text(&report, &style, true));
        if let Some(line) = render::interrupted_text(
            &report,
            &hint(g, &format!("destroy --env {}", a.env.env)),
            true,
        ) {
            crate::outln!("{line}");
        }
    }
    Ok(if report.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The stored state, without taking the lock (output, state list/show/pull).
pub(crate) async fn open_state_readonly(g: &Global, env: &str) -> Result<StateStore> {
    let cfg = state_config(g, env)?;
    let aws = Aws::load(g.endpoint.clone()).await;
    let opened = backends::open(&cfg, env, &aws).await?;
    let store = StateStore::open_in(opened.backend.clone(), env)?;
    if !store.exists() {
        bail!(
            "no state at {}: nothing was applied for env '{env}' from here yet (run `{}`), or the state is elsewhere (give --state PATH or s3://BUCKET/KEY, or see the plan's [state] table)",
            store.path().display(),
            hint(g, &format!("apply --env {env}"))
        );
    }
    Ok(store)
}

async fn output_cmd(g: &Global, a: &OutputArgs) -> Result<ExitCode> {
    let plan = load_env(g, &a.env.env)?;
    let store = open_state_readonly(g, &a.env.env).await?;
    let out = outputs::collect(&store.state, &plan);
    if let Some(name) = &a.name {
        let value = outputs::get(&out, name).ok_or_else(|| {
            anyhow!(
                "no output named '{name}'; the outputs are: {}",
                outputs::names(&out).join(", ")
            )
        })?;
        match (a.json, value) {
            (false, serde_json::Value::String(s)) => crate::outln!("{s}"),
            (false, serde_json::Value::Null) => bail!(
                "output '{name}' has no value yet: its resource is not created (run `{}`)",
                hint(g, &format!("apply --env {}", a.env.env))
            ),
            (_, v) => crate::outln!("{}", serde_json::to_string_pretty(v)?),
        }
        return Ok(ExitCode::SUCCESS);
    }
    if a.json {
        crate::outln!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        crate::outp!("{}", outputs::text(&out));
    }
    Ok(ExitCode::SUCCESS)
}

async fn state_cmd(g: &Global, cmd: StateCommand) -> Result<ExitCode> {
    match cmd {
        StateCommand::List(a) => {
            let store = open_state_readonly(g, &a.env).await?;
            // One line per address, as `terraform state list`: a resource
            // with an unfinished operation says so after its id (a script
            // counting lines got 84 for 75 addresses after a killed destroy).
            let s = &store.state;
            let addresses: std::collections::BTreeSet<&Address> =
                s.resources.keys().chain(s.pending.keys()).collect();
            for addr in addresses {
                let pending = s
                    .pending
                    .get(addr)
                    .map(|p| format!("(pending {:?} since {})", p.operation, p.started_at));
                match (s.resources.get(addr), pending) {
                    (Some(r), None) => crate::outln!("{addr}\t{}\t{}", r.kind, r.id),
                    (Some(r), Some(p)) => crate::outln!("{addr}\t{}\t{}\t{p}", r.kind, r.id),
                    (None, Some(p)) => {
                        let kind = &s.pending[addr].kind;
                        crate::outln!("{addr}\t{kind}\t{p}")
                    }
                    (None, None) => {}
                }
            }
        }
        StateCommand::Show { address, env } => {
            let store = open_state_readonly(g, &env.env).await?;
            let r = store
                .state
                .resources
                .get(&Address::new(address.clone()))
                .ok_or_else(|| {
                    anyhow!(
                        "{address} is not in the state (see `{}`)",
                        hint(g, &format!("state list --env {}", env.env))
                    )
                })?;
            crate::outln!("{}", serde_json::to_string_pretty(r)?);
        }
        StateCommand::Rm { addresses, env } => return state_rm(g, &env.env, &addresses).await,
        other => return crate::statecmd::run(g, other).await,
    }
    Ok(ExitCode::SUCCESS)
}

/// `drctl force-unlock LOCK_ID`: removes a lock whose holder this host
/// cannot see running, after confirmation; never a live run's lock.
async fn force_unlock(g: &Global, a: &ForceUnlockArgs) -> Result<ExitCode> {
    let path = match state_config(g, &a.env.env)? {
        StateConfig::Local(p) => backends::local_path(&p, &a.env.env),
        cfg => return force_unlock_remote(g, a, &cfg).await,
    };
    let Some(lock_id) = a.lock_id.clone() else {
        bail!(
            "force-unlock needs the id of the lock to remove: run `{}` with the lock id that the refused run printed",
            hint(g, &format!("force-unlock --env {} LOCK_ID", a.env.env))
        );
    };
    let found = lock::read(&path)?;
    if let Some(l) = found.filter(|l| l.id == lock_id && l.liveness() != Liveness::Alive) {
        let seen = match l.liveness() {
            Liveness::Gone => "that process is no longer running on this host",
            _ => "drctl cannot tell from this host whether it still runs",
        };
        let q = format!(
            "Remove the lock {} held by {} ({seen})? Only do this if no drctl is running on this state. Only 'yes' will be accepted.",
            l.id,
            l.describe()
        );
        let unattended = hint(
            g,
            &format!("force-unlock --env {} {} --force", a.env.env, l.id),
        );
        if !a.force && !confirm_or(&q, "yes", &unattended)? {
            crate::outln!("Lock kept.");
            return Ok(ExitCode::from(1));
        }
    }
    // Checks the id and the holder again, under the lock guard.
    let removed = lock::force_unlock(&path, &lock_id)?;
    crate::outln!(
        "Removed the lock {} held by {}.",
        removed.id,
        removed.describe()
    );
    Ok(ExitCode::SUCCESS)
}

/// `apply -refresh-only`: shows what the cloud changed, asks, and records
/// it in the state. No resource is touched.
fn apply_refresh_only(
    g: &Global,
    a: &ApplyArgs,
    mut session: Session,
    plan: Plan,
    style: Style,
) -> Result<ExitCode> {
    session.write_call_log();
    let env = plan.env.clone();
    let refresh = RefreshOnly::from_plan(&plan, &session.store.state);
    if a.json {
        crate::outln!("{}", serde_json::to_string_pretty(&refresh)?);
    } else {
        crate::outp!("{}", render::refresh_only_text(&plan, &refresh, &style, ""));
    }
    if refresh.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    if !a.auto_approve
        && !confirm_or(
            "Update the state to match these changes made outside of drctl? Nothing in the cloud will change. Only 'yes' will be accepted.",
            "yes",
            &hint(g, &format!("apply --env {env} -refresh-only --auto-approve")),
        )?
    {
        crate::outln!("Apply cancelled.");
        return Ok(ExitCode::from(1));
    }
    refresh.apply_to(&plan, &mut session.store.state);
    session.store.save()?;
    if !a.json {
        crate::outln!(
            "\n{} The state now matches the cloud: {} updated, {} forgotten; no resource was changed.",
            style.green("Apply complete!"),
            refresh.update.len(),
            refresh.forget.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `drctl show PLANFILE`: a saved plan as `plan` printed it (or its JSON).
fn show_cmd(a: &ShowArgs, style: Style) -> Result<ExitCode> {
    let saved = savedplan::read(&a.plan_file)?;
    if a.json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&render::plan_json(&saved.plan))?
        );
    } else {
        crate::outp!("{}", render::plan_text(&saved.plan, &style));
    }
    Ok(ExitCode::SUCCESS)
}

/// `drctl state rm ADDR...`: forgets resources (leaves them in the cloud),
/// after copying the state to a timestamped backup.
async fn state_rm(g: &Global, env: &str, addresses: &[String]) -> Result<ExitCode> {
    let _ = open_state_readonly(g, env).await?;
    let cfg = state_config(g, env)?;
    let aws = Aws::load(g.endpoint.clone()).await;
    let opened = backends::open(&cfg, env, &aws).await?;
    let _lock = opened.backend.lock("drctl state rm", g.lock_timeout)?;
    let mut store = StateStore::open_in(opened.backend.clone(), env)?;
    let path = store.path().to_path_buf();
    let wanted: Vec<Address> = addresses.iter().map(Address::new).collect();
    for a in &wanted {
        if !store.state.resources.contains_key(a) && !store.state.pending.contains_key(a) {
            bail!(
                "{a} is not in the state, nothing was removed (see `{}`)",
                hint(g, &format!("state list --env {env}"))
            );
        }
    }
    // S3 state: the bucket's versions are the backups.
    let backup = match &cfg {
        StateConfig::Local(_) => {
            let stamp = chrono_stamp();
            let backup = PathBuf::from(format!("{}.{stamp}.backup", path.display()));
            std::fs::copy(&path, &backup).with_context(|| {
                format!("cannot back up {} to {}", path.display(), backup.display())
            })?;
            backup.display().to_string()
        }
        StateConfig::S3(_) => format!(
            "the bucket's previous version of {} (versioning)",
            path.display()
        ),
    };
    let mut removed = Vec::new();
    // Kinds AWS cannot tag are found again through what they attach to.
    let registry = drctl_aws::registry(&aws);
    let mut untagged = Vec::new();
    for a in &wanted {
        if let Some(r) = store.state.resources.remove(a) {
            if !registry.get(&r.kind).is_ok_and(|k| k.taggable()) {
                untagged.push(a.to_string());
            }
            removed.push(format!("{a} ({} {})", r.kind, r.id));
        } else if let Some(p) = store.state.pending.remove(a) {
            removed.push(format!("{a} ({}, pending {:?})", p.kind, p.operation));
        }
    }
    store.save()?;
    for r in &removed {
        crate::outln!("Removed {r} from the state.");
    }
    if untagged.len() < removed.len() {
        crate::outln!(
            "The resources are left in the cloud, untouched. They still carry the ownership tags drctl:env={env} and drctl:address, so the next plan finds them and records them again; to stop managing one, remove those tags (or delete it)."
        );
    }
    if !untagged.is_empty() {
        crate::outln!(
            "{} cannot carry tags (AWS cannot tag the kind): the next plan finds it through what it attaches to and `{}` records it again; to stop managing it, delete it.",
            untagged.join(", "),
            hint(g, &format!("apply --env {env}"))
        );
    }
    crate::outln!("The state before this change is kept at {backup}.");
    Ok(ExitCode::SUCCESS)
}

/// Seconds since the epoch: unique enough for a backup name, sortable.
fn chrono_stamp() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `drctl import ADDR ID`: reads the resource by id, refuses what belongs to
/// another env or is something else, tags it with this env's ownership tags
/// and records it in the state. Nothing else changes in the cloud.
async fn import_cmd(g: &Global, a: &ImportArgs) -> Result<ExitCode> {
    use drctl_core::plan::{has_unknowns, resolve_spec};
    let env = a.env.env.as_str();
    let mut session = open_session(g, env, "drctl import", true).await?;
    let address = Address::new(a.address.clone());
    let (spec, reconciler) = import_target(g, &session, env, &address)?;
    // The form the kind takes, or its ARN (checked against the address).
    let given = drctl_stack::import_ids::import_id(
        &spec.kind,
        address.as_str(),
        spec.region.as_deref(),
        session.store.state.account.as_deref(),
        &a.id,
    )
    .map_err(|e| anyhow!("cannot import {address}: {e}"))?;
    let id = reconciler.import_id(&given);
    // Re-importing the recorded id puts back ownership tags removed by hand;
    // any other id would replace the record, which needs `state rm` first.
    let recorded = session.store.state.resources.get(&address);
    if let Some(r) = recorded.filter(|r| r.id != id) {
        bail!(
            "{address} is already in the state as {}; to import another resource there, first run `{}`",
            r.id,
            hint(g, &format!("state rm --env {env} {address}"))
        );
    }
    let already = recorded.is_some();
    let resolved = resolve_spec(&spec, &|dep, attr| session.store.state.attr(dep, attr));
    let cx = session.engine.cx().clone();
    let form = drctl_stack::kinds::import_id(&spec.kind)
        .map(|i| i.form)
        .unwrap_or("its physical id");
    let done = drctl_core::import::import(&*reconciler, &cx, &resolved, &given, form)
        .await
        .map_err(|e| anyhow!("cannot import {address}: {e}"))?;
    if already {
        // The record stands as it is (the state file is not rewritten).
        report_reimport(&address, &id, &done.tagged);
        session.write_call_log();
        return Ok(ExitCode::SUCCESS);
    }
    session
        .store
        .state
        .resources
        .insert(address.clone(), done.record(&spec));
    session.store.save()?;
    session.write_call_log();
    crate::outln!(
        "Imported {address}: {} {} is tagged drctl:env={env}, drctl:address={address} and recorded in the state.",
        spec.kind,
        done.observed.id
    );
    let plan_hint = hint(g, &format!("plan --env {env}"));
    let differs = done.differing_fields();
    if differs.is_empty() && !has_unknowns(&resolved) {
        crate::outln!("It matches the environment plan; `{plan_hint}` shows no change for it.");
    } else if differs.is_empty() {
        crate::outln!("Run `{plan_hint}` to compare it with the environment plan.");
    } else {
        crate::outln!(
            "It differs from the environment plan in: {}. Run `{plan_hint}` to see what apply would change.",
            differs.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The spec at `address` and its reconciler, or why `drctl import` does not
/// take it (not a resource of the env; a kind AWS cannot tag).
fn import_target(
    g: &Global,
    session: &Session,
    env: &str,
    address: &Address,
) -> Result<(
    drctl_core::model::ResourceSpec,
    Arc<dyn drctl_core::reconcile::Reconciler>,
)> {
    let spec = session.graph.get(address).cloned().ok_or_else(|| {
        anyhow!(
            "{address} is not a resource of env '{env}' (see `{}` for the addresses)",
            hint(g, &format!("graph --env {env}"))
        )
    })?;
    let reconciler = session.engine.registry().get(&spec.kind)?.clone();
    if !reconciler.importable() {
        bail!(
            "cannot import {address}: AWS cannot tag a {}, so drctl import does not take one, and none is needed: the plan finds it through what it attaches to (once that is this env's) and shows it as found and to be recorded in the state. Run `{}` to see it, then `{}` to record it.",
            spec.kind,
            hint(g, &format!("plan --env {env}")),
            hint(g, &format!("apply --env {env}"))
        );
    }
    Ok((spec, reconciler))
}

/// What re-importing the recorded id did: nothing, or put back lost tags.
fn report_reimport(address: &Address, id: &str, tagged: &drctl_core::diff::TagWrites) {
    let tagged: Vec<String> = tagged.set.keys().cloned().collect();
    if tagged.is_empty() {
        crate::outln!(
            "{address} is already managed as {id}: nothing to do (the state is unchanged)."
        );
    } else {
        crate::outln!(
            "{address} is already managed as {id}; it had lost tags, put back now: {}. The state is unchanged.",
            tagged.join(", ")
        );
    }
}

/// S3 state: removes the lock only when LOCK_ID is its id.
async fn force_unlock_remote(
    g: &Global,
    a: &ForceUnlockArgs,
    cfg: &StateConfig,
) -> Result<ExitCode> {
    let aws = Aws::load(g.endpoint.clone()).await;
    let opened = backends::open(cfg, &a.env.env, &aws).await?;
    let remote = opened
        .remote
        .ok_or_else(|| anyhow!("internal error: remote state without a remote backend"))?;
    let holder = remote.holder().map_err(|e| anyhow!(e))?;
    let Some((holder, _)) = holder else {
        crate::outln!("No lock on {}.", remote.location());
        return Ok(ExitCode::SUCCESS);
    };
    let Some(id) = &a.lock_id else {
        bail!(
            "the state {} is locked by {holder}; to remove that lock run: drctl force-unlock {} --env {}",
            remote.location(),
            holder.id,
            a.env.env
        );
    };
    if id != &holder.id {
        bail!(
            "the lock on {} has id {}, not {id} (held by {holder}); nothing was removed",
            remote.location(),
            holder.id
        );
    }
    if !a.force
        && !confirm_or(
            &format!("Remove the lock held by {holder}? Only do this if that run is gone. Only 'yes' will be accepted."),
            "yes",
            &hint(g, &format!("force-unlock --env {} {id} --force", a.env.env)),
        )?
    {
        crate::outln!("Lock kept.");
        return Ok(ExitCode::from(1));
    }
    let id = id.clone();
    let r = tokio::task::spawn_blocking(move || remote.force_unlock(&id)).await?;
    match r.map_err(|e| anyhow!(e))? {
        drctl_core::backend::Unlocked::Removed(h) => {
            crate::outln!("Lock removed (was held by {h}).")
        }
        drctl_core::backend::Unlocked::NoLock => crate::outln!("The lock was already gone."),
    }
    Ok(ExitCode::SUCCESS)
}
