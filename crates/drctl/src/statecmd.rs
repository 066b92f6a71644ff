//! `drctl state pull | push | migrate`: moving a state between backends.

use crate::backends;
use crate::cli::{Global, StateCommand};
use crate::commands::state_config;
use anyhow::{anyhow, bail, Context, Result};
use drctl_aws::Aws;
use drctl_core::state::{parse_state, State, StateStore};
use drctl_stack::statecfg;
use std::io::Write;
use std::process::ExitCode;

/// `state pull | push | migrate` (list, show and rm are in `commands`).
pub async fn run(g: &Global, cmd: StateCommand) -> Result<ExitCode> {
    match cmd {
        StateCommand::Pull(a) => pull(g, &a.env).await?,
        StateCommand::Push { file, env, force } => push(g, &env.env, &file, force).await?,
        StateCommand::Migrate { to, env, force } => migrate(g, &env.env, &to, force).await?,
        other => bail!("internal error: {other:?} is not a state transfer command"),
    }
    Ok(ExitCode::SUCCESS)
}

/// The stored bytes as they are (no lock: a read of one object is consistent).
async fn pull(g: &Global, env: &str) -> Result<()> {
    let cfg = state_config(g, env)?;
    let aws = Aws::load(g.endpoint.clone()).await;
    let opened = backends::open(&cfg, env, &aws).await?;
    let location = opened.backend.location();
    let stored = opened
        .backend
        .read()?
        .ok_or_else(|| anyhow!("no state at {location} (nothing applied for env '{env}' yet)"))?;
    // Validate before printing: a pull never hands on a broken document.
    parse_state(location.as_ref(), &stored.bytes)?;
    let mut out = std::io::stdout().lock();
    match out.write_all(&stored.bytes).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Why `incoming` may not replace `current` (without --force).
fn refuse(current: &State, incoming: &State, target: &str) -> Option<String> {
    if current.lineage != incoming.lineage {
        return Some(format!(
            "{target} holds lineage {} but the new state has lineage {}: they are different states",
            current.lineage, incoming.lineage
        ));
    }
    if incoming.serial < current.serial {
        return Some(format!(
            "{target} is at serial {} but the new state has the lower serial {}: it is older and would undo changes",
            current.serial, incoming.serial
        ));
    }
    None
}

async fn push(g: &Global, env: &str, file: &std::path::Path, force: bool) -> Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let incoming = parse_state(file, &bytes)?;
    if incoming.env != env {
        bail!(
            "{} is the state of env '{}', not '{env}'",
            file.display(),
            incoming.env
        );
    }
    let cfg = state_config(g, env)?;
    let aws = Aws::load(g.endpoint.clone()).await;
    let opened = backends::open(&cfg, env, &aws).await?;
    let _lock = opened.backend.lock("drctl state push", g.lock_timeout)?;
    let mut store = StateStore::open_in(opened.backend.clone(), env)?;
    let target = store.path().display().to_string();
    if store.exists() {
        if let Some(why) = refuse(&store.state, &incoming, &target) {
            if !force {
                bail!("refusing to push {}: {why}. Nothing was written; pass --force to overwrite it anyway", file.display());
            }
            crate::errln!("warning: --force: {why}; overwriting");
        }
    }
    let serial = incoming.serial;
    store.replace(incoming)?;
    crate::outln!("Pushed {} to {target} (serial {serial}).", file.display());
    Ok(())
}

/// Copies the stored bytes to `to` (lineage and serial kept), reads them
/// back to verify, then releases both locks. The source is left in place.
async fn migrate(g: &Global, env: &str, to: &str, force: bool) -> Result<()> {
    let from_cfg = state_config(g, env)?;
    let to_cfg =
        statecfg::parse_state_arg(to).map_err(|e| anyhow!(e.replace("--state", "--to")))?;
    let aws = Aws::load(g.endpoint.clone()).await;
    let from = backends::open(&from_cfg, env, &aws).await?;
    let target = backends::open(&to_cfg, env, &aws).await?;
    let (src, dst) = (from.backend.location(), target.backend.location());
    if src == dst {
        bail!("the state is already at {dst}");
    }
    let from_lock = from.backend.lock("drctl state migrate", g.lock_timeout)?;
    let to_lock = target.backend.lock("drctl state migrate", g.lock_timeout)?;
    let stored = from
        .backend
        .read()?
        .ok_or_else(|| anyhow!("no state at {src} to migrate"))?;
    let state = parse_state(src.as_ref(), &stored.bytes)?;
    if state.env != env {
        bail!("{src} is the state of env '{}', not '{env}'", state.env);
    }
    let existing = target.backend.read()?;
    let mut version = None;
    if let Some(e) = &existing {
        let current = parse_state(dst.as_ref(), &e.bytes)?;
        if let Some(why) = refuse(&current, &state, &dst) {
            if !force {
                bail!("refusing to migrate to {dst}: {why}. Nothing was written; pass --force to overwrite it");
            }
        }
        version = e.version.clone();
    }
    target.backend.write(&stored.bytes, version.as_deref())?;
    let back = target
        .backend
        .read()?
        .ok_or_else(|| anyhow!("{dst} is missing right after writing it"))?;
    if back.bytes != stored.bytes {
        bail!(
            "{dst} does not read back as written; the source {src} is unchanged and still in use"
        );
    }
    drop(to_lock);
    drop(from_lock);
    crate::outln!(
        "Migrated the state of env '{env}' (lineage {}, serial {}, {} resources) from {src} to {dst}, verified.\nPoint drctl at it: set [state] in the plan (or pass --state {to}). The copy at {src} is kept as a backup; delete it when done.",
        state.lineage,
        state.serial,
        state.resources.len()
    );
    Ok(())
}
