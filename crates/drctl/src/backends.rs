//! Which state backend a command uses: `--state` (a path or
//! `s3://bucket/key`), else the plan's `[state]` table, else
//! `.drctl/<env>.state.json`; and opening it.

use crate::cli::Global;
use anyhow::{anyhow, Result};
use drctl_aws::s3_state::{S3Location, S3Store};
use drctl_aws::Aws;
use drctl_core::backend::{LocalBackend, StateBackend};
use drctl_core::remote::{LeaseConfig, RemoteBackend, DEFAULT_LEASE};
use drctl_stack::envplan::EnvPlan;
use drctl_stack::statecfg::{self, StateConfig};
use std::path::PathBuf;
use std::sync::{Arc, Once};

/// An opened backend; `remote`/`s3` are set for S3 state.
pub struct Opened {
    pub backend: Arc<dyn StateBackend>,
    pub remote: Option<RemoteBackend>,
    pub s3: Option<Arc<S3Store>>,
}

impl Opened {
    /// State S3 calls by operation, prefixed `state:` (for DRCTL_CALL_LOG).
    pub fn calls(&self) -> Vec<(String, u64)> {
        self.s3
            .iter()
            .flat_map(|s| s.calls())
            .map(|(k, v)| (format!("state:{k}"), v))
            .collect()
    }
}

/// `--state` wins over the plan's `[state]`.
pub fn config(g: &Global, plan: Option<&EnvPlan>) -> Result<StateConfig> {
    match &g.state {
        Some(arg) => statecfg::parse_state_arg(arg).map_err(|e| anyhow!(e)),
        None => Ok(plan
            .map(|p| p.state.clone())
            .unwrap_or(StateConfig::Local(None))),
    }
}

pub fn local_path(path: &Option<PathBuf>, env: &str) -> PathBuf {
    path.clone()
        .unwrap_or_else(|| PathBuf::from(".drctl").join(format!("{env}.state.json")))
}

/// `DRCTL_LOCK_LEASE=10s` shortens the lease (tests); else 2 min renewed every 30 s.
fn lease() -> Result<LeaseConfig> {
    match std::env::var("DRCTL_LOCK_LEASE") {
        Ok(v) if !v.is_empty() => crate::cli::parse_duration(&v)
            .map(LeaseConfig::with_lease)
            .map_err(|e| anyhow!("DRCTL_LOCK_LEASE: {e}")),
        _ => Ok(DEFAULT_LEASE),
    }
}

static VERSIONING_WARNED: Once = Once::new();

/// Opens `cfg`; for S3, warns once per run when the bucket keeps no versions.
pub async fn open(cfg: &StateConfig, env: &str, aws: &Aws) -> Result<Opened> {
    match cfg {
        StateConfig::Local(p) => Ok(Opened {
            backend: Arc::new(LocalBackend {
                path: local_path(p, env),
            }),
            remote: None,
            s3: None,
        }),
        StateConfig::S3(s) => {
            let store = Arc::new(S3Store::new(
                aws,
                &S3Location {
                    bucket: s.bucket.clone(),
                    key: s.key.clone(),
                    region: s.region.clone(),
                    kms_key_id: s.kms_key_id.clone(),
                },
            ));
            if !VERSIONING_WARNED.is_completed() {
                if let Some(w) = store.versioning_warning().await {
                    tracing::warn!("{w}");
                }
                VERSIONING_WARNED.call_once(|| {});
            }
            let remote = RemoteBackend::new(store.clone(), &s.key, lease()?);
            Ok(Opened {
                backend: Arc::new(remote.clone()),
                remote: Some(remote),
                s3: Some(store),
            })
        }
    }
}
