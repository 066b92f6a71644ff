//! Saved plans (`drctl plan --out FILE`, `drctl apply FILE`).
//!
//! A saved plan records the planned actions, the environment plan's content
//! hash, the state's lineage and serial, and drctl's version, sealed with a
//! checksum. `apply` refuses it when any of those moved or the file was
//! edited. It holds no secret: plans never contain one, and the writer
//! checks the secret register before writing.

use anyhow::{bail, Context, Result};
use drctl_core::plan::Plan;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;

const KIND: &str = "drctl-saved-plan";
const FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedPlan {
    pub kind: String,
    pub format_version: u32,
    pub drctl_version: String,
    pub env: String,
    /// SHA-256 of plans/<env>.toml when the plan was made.
    pub env_plan_hash: String,
    pub plan: Plan,
    /// SHA-256 over everything above.
    pub checksum: String,
}

fn checksum(env: &str, env_plan_hash: &str, version: &str, plan: &Plan) -> Result<String> {
    let body = serde_json::to_vec(&(KIND, FORMAT, version, env, env_plan_hash, plan))?;
    Ok(hex::encode(Sha256::digest(body)))
}

pub fn write(path: &Path, plan: &Plan, env_plan_hash: &str) -> Result<()> {
    let version = env!("CARGO_PKG_VERSION");
    let saved = SavedPlan {
        kind: KIND.into(),
        format_version: FORMAT,
        drctl_version: version.into(),
        env: plan.env.clone(),
        env_plan_hash: env_plan_hash.into(),
        plan: plan.clone(),
        checksum: checksum(&plan.env, env_plan_hash, version, plan)?,
    };
    let text = serde_json::to_string_pretty(&saved)?;
    if drctl_core::secrets::contains_secret(&text) {
        bail!(
            "refusing to write {}: the plan would contain a secret",
            path.display()
        );
    }
    drctl_core::state::write_atomically(path, text.as_bytes(), false)
        .with_context(|| format!("cannot write saved plan {}", path.display()))
}

/// Reads a saved plan and checks its seal (not yet its freshness).
pub fn read(path: &Path) -> Result<SavedPlan> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read plan file {}", path.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|_| {
        anyhow::anyhow!(
            "{} is not a drctl plan file (it is not JSON)",
            path.display()
        )
    })?;
    if value.get("kind").and_then(|k| k.as_str()) != Some(KIND) {
        bail!(
            "{} is not a drctl plan file (made with `drctl plan --out FILE`)",
            path.display()
        );
    }
    let saved: SavedPlan = serde_json::from_value(value)
        .with_context(|| format!("{} is not a valid drctl plan file", path.display()))?;
    if saved.format_version != FORMAT {
        bail!(
            "{} has plan format {}, this drctl reads {FORMAT}",
            path.display(),
            saved.format_version
        );
    }
    let expected = checksum(
        &saved.env,
        &saved.env_plan_hash,
        &saved.drctl_version,
        &saved.plan,
    )?;
    if expected != saved.checksum {
        bail!("{} was modified after it was written (checksum mismatch); make a new plan with `drctl plan --out`", path.display());
    }
    if saved.drctl_version != env!("CARGO_PKG_VERSION") {
        bail!(
            "{} was made by drctl {}, this is {}; make a new plan",
            path.display(),
            saved.drctl_version,
            env!("CARGO_PKG_VERSION")
        );
    }
    Ok(saved)
}

/// Refuses a plan made against another state or another environment plan.
pub fn check_fresh(
    saved: &SavedPlan,
    lineage: &str,
    serial: u64,
    env_plan_hash: &str,
    path: &Path,
) -> Result<()> {
    if saved.plan.lineage != lineage {
        bail!(
            "{} was made for another state (lineage {} ≠ {lineage}); make a new plan",
            path.display(),
            saved.plan.lineage
        );
    }
    if saved.plan.serial != serial {
        bail!(
            "{} is stale: the state changed since it was made (serial {} → {serial}); make a new plan",
            path.display(),
            saved.plan.serial
        );
    }
    if saved.env_plan_hash != env_plan_hash {
        bail!(
            "{} is stale: plans/{}.toml changed since it was made; make a new plan",
            path.display(),
            saved.env
        );
    }
    Ok(())
}
