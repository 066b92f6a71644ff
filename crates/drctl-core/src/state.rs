//! The state file: what drctl created, by physical id, and what it is about
//! to do (write-ahead intents).
//!
//! Guarantees:
//! - Every write is atomic (temp file in the same folder, fsync, rename) and
//!   bumps `serial`; the previous version is kept as `<file>.backup`; the
//!   file is created with mode 0600.
//! - A file that does not parse, or has an unknown `format_version`, is an
//!   error naming the file and is never overwritten.
//! - Nothing registered as a secret ([`crate::secrets`]) is ever written.

use crate::backend::{BackendError, LocalBackend, StateBackend};
use crate::model::{Address, Props};
use crate::secrets;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use thiserror::Error;

/// Version 2 added `deposed`; version 1 states load as they are (an empty
/// `deposed`) and are written back as version 2.
pub const STATE_FORMAT_VERSION: u32 = 2;

/// The oldest `format_version` this drctl still reads.
pub const STATE_FORMAT_OLDEST: u32 = 1;

#[derive(Debug, Error)]
/// Why a state could not be loaded or saved. Each names the file (or
/// `s3://bucket/key`) and leaves it as it was: a failed load never
/// overwrites, a failed save keeps the previous version.
pub enum StateError {
    #[error("cannot read state file {path}: {source}")]
    /// The file exists but cannot be read (permissions, I/O).
    Read {
        /// The state's location.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    #[error("state file {path} is not valid drctl state (line {line}, column {column}): {message}; it was left untouched (a copy of the previous version may be in {path}.backup)")]
    /// The file is not JSON of the state's shape; it is never overwritten.
    Corrupt {
        /// The state's location.
        path: PathBuf,
        /// 1-based line of the first error (serde_json's).
        line: usize,
        /// 1-based column of the first error.
        column: usize,
        /// serde_json's message (an unknown field, a missing one, a bad value).
        message: String,
    },
    #[error("state file {path} has format_version {found}, but this drctl reads version {STATE_FORMAT_VERSION}; upgrade drctl. The file was left untouched")]
    /// Written by a newer drctl (a `format_version` above
    /// [`STATE_FORMAT_VERSION`]); never overwritten.
    UnknownVersion {
        /// The state's location.
        path: PathBuf,
        /// The file's `format_version`.
        found: u64,
    },
    #[error("state file {path} belongs to env '{found}', not '{expected}'")]
    /// The state was written for another env (its `env` field): a wrong
    /// `--state` or a copied file.
    WrongEnv {
        /// The state's location.
        path: PathBuf,
        /// The env the state belongs to.
        found: String,
        /// The env this run is for.
        expected: String,
    },
    #[error("cannot write state file {path}: {source}")]
    /// Writing failed (disk full, permissions); the previous version stands.
    Write {
        /// The state's location.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The state records another AWS account than the credentials are for:
    /// its resources' names (which contain the account id) and ids mean
    /// nothing there. Nothing is read from or written to the cloud.
    #[error("the state {} belongs to account {recorded}, but the credentials are for account {actual}", .path.display())]
    WrongAccount {
        /// The state's location.
        path: PathBuf,
        /// The account the state records (12 digits).
        recorded: String,
        /// The account of the credentials in use (STS GetCallerIdentity).
        actual: String,
    },
    #[error("refusing to write {path}: it would contain a secret value")]
    /// The serialized state contains a registered secret ([`crate::secrets`]):
    /// nothing was written (a reconciler bug, caught before the disk).
    SecretLeak {
        /// The state's location.
        path: PathBuf,
    },
    #[error(transparent)]
    /// The remote backend failed (S3 call, precondition, lease); see [`BackendError`].
    Backend(#[from] BackendError),
}

/// What drctl knows about one resource it manages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceState {
    /// The reconciler kind that owns it (`ec2:vpc`).
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// AWS region; `None` for global services (IAM, Route53).
    pub region: Option<String>,
    /// The name it was created with (the alternate `-r` name after some replacements).
    pub name: String,
    /// Physical id (VPC id, ARN, name...).
    pub id: String,
    /// Non-secret attributes later resources need (ARNs, DNS names).
    #[serde(default)]
    pub attrs: Props,
    /// The desired properties last applied, resolved; drift is measured
    /// against them.
    #[serde(default)]
    pub applied: Props,
    #[serde(default)]
    /// Addresses it depended on when last applied: the destroy order when the
    /// stack no longer has it (a resource removed from the blueprint).
    pub dependencies: Vec<Address>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
/// The kind of mutating call a [`PendingOp`] records.
pub enum Operation {
    /// A create: the next run looks for the resource by its token before creating.
    Create,
    /// An in-place update: the next run re-reads and re-diffs.
    Update,
    /// A delete: the next run deletes again (deletes are idempotent).
    Delete,
}

/// A mutating call that was started and not (yet) recorded as finished.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingOp {
    /// Which call was started.
    pub operation: Operation,
    /// The reconciler kind (`ec2:vpc`), to read the resource again.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// AWS region; `None` for global services.
    pub region: Option<String>,
    /// The resource's name at the time of the call.
    pub name: String,
    /// Idempotency token sent with the call, reused by the next run.
    pub token: String,
    /// When the call started, RFC 3339 UTC to the second.
    pub started_at: String,
}

/// The old object of a create-before-destroy replacement (Terraform's
/// *deposed object*): its replacement was created (or is being created) at
/// the same address, and it is deleted once its dependents have moved to the
/// new one. Recorded before the replacement's create call, so a run killed
/// anywhere after leaves it named here, and the next `apply` (or `destroy`)
/// deletes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeposedObject {
    /// 8 hex characters telling deposed objects of one address apart
    /// (Terraform's deposed key).
    pub key: String,
    /// What the state recorded for it while it was the current object.
    pub object: ResourceState,
    /// When it was deposed, RFC 3339 UTC to the second.
    pub deposed_at: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
/// Everything drctl records for one env: the state file's JSON document
/// (Terraform's state, for this stack). Read and written only through
/// [`StateStore`].
pub struct State {
    /// The file format ([`STATE_FORMAT_VERSION`]); older versions down to
    /// [`STATE_FORMAT_OLDEST`] load, newer ones are refused.
    pub format_version: u32,
    /// Random, fixed when the state is created: a saved plan or token from
    /// another state can never be mistaken for this one's.
    pub lineage: String,
    /// Incremented on every write.
    pub serial: u64,
    /// The env this state belongs to; a store for another env refuses it.
    pub env: String,
    /// The AWS account the resources live in (names contain it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default)]
    /// Every resource drctl created (or imported) and that still exists, by address.
    pub resources: BTreeMap<Address, ResourceState>,
    #[serde(default)]
    /// Write-ahead intents: calls started and not recorded as finished, by address.
    pub pending: BTreeMap<Address, PendingOp>,
    /// How many times each address was created: part of its next token.
    #[serde(default)]
    pub generations: BTreeMap<Address, u64>,
    /// Old objects of unfinished create-before-destroy replacements, by
    /// address ([`DeposedObject`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub deposed: BTreeMap<Address, Vec<DeposedObject>>,
    /// A `drctl drill` in progress: what it changed, to undo it (`drill --abort`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill: Option<crate::drill::DrillJournal>,
}

impl State {
    /// An empty state for `env`: a new random lineage, serial 0, current format.
    pub fn new(env: &str) -> Self {
        State {
            format_version: STATE_FORMAT_VERSION,
            lineage: uuid::Uuid::new_v4().to_string(),
            serial: 0,
            env: env.to_string(),
            account: None,
            resources: BTreeMap::new(),
            pending: BTreeMap::new(),
            generations: BTreeMap::new(),
            deposed: BTreeMap::new(),
            drill: None,
        }
    }

    /// The token for the next create of `address`: the pending one when a
    /// create was interrupted, else derived from lineage, address and
    /// generation (so a restarted process sends the same token).
    pub fn token_for(&self, address: &Address) -> String {
        if let Some(p) = self.pending.get(address) {
            return p.token.clone();
        }
        let generation = self.generations.get(address).copied().unwrap_or(0);
        idempotency_token(&self.lineage, address, generation)
    }

    /// Physical ids of the deposed objects of every address.
    pub fn deposed_ids(&self) -> BTreeMap<Address, Vec<String>> {
        self.deposed
            .iter()
            .map(|(a, d)| (a.clone(), d.iter().map(|o| o.object.id.clone()).collect()))
            .collect()
    }

    /// Removes the deposed object `key` of `address` (gone from the cloud).
    pub fn forget_deposed(&mut self, address: &Address, key: &str) {
        if let Some(list) = self.deposed.get_mut(address) {
            list.retain(|d| d.key != key);
            if list.is_empty() {
                self.deposed.remove(address);
            }
        }
    }

    /// The value of `address`'s attribute `attr` (`id` is the physical id),
    /// or `None` when the resource or the attribute is not recorded: how
    /// references resolve during apply.
    pub fn attr(&self, address: &Address, attr: &str) -> Option<serde_json::Value> {
        let r = self.resources.get(address)?;
        if attr == "id" {
            return Some(serde_json::Value::String(r.id.clone()));
        }
        r.attrs.get(attr).cloned()
    }
}

/// 32 hex characters: fits EC2 `ClientToken` (≤ 64), Route53
/// `CallerReference` (≤ 128) and Secrets Manager `ClientRequestToken` (32–64).
pub fn idempotency_token(lineage: &str, address: &Address, generation: u64) -> String {
    let mut h = Sha256::new();
    h.update(lineage.as_bytes());
    h.update([0]);
    h.update(address.as_str().as_bytes());
    h.update([0]);
    h.update(generation.to_be_bytes());
    hex::encode(h.finalize())[..32].to_string()
}

/// Loads and saves one state through its [`StateBackend`].
#[derive(Debug)]
pub struct StateStore {
    backend: Arc<dyn StateBackend>,
    /// The backend's location, for messages.
    path: PathBuf,
    /// The version last read or written (S3 ETag): the next write's condition.
    version: Option<String>,
    exists: bool,
    /// The state as last read or saved; mutate it, then [`save`](Self::save).
    pub state: State,
}

impl StateStore {
    /// Opens the local file `path`, or starts a new empty state for `env`
    /// when it does not exist (nothing is written until the first [`save`](Self::save)).
    pub fn open(path: &Path, env: &str) -> Result<Self, StateError> {
        Self::open_in(Arc::new(LocalBackend { path: path.into() }), env)
    }

    /// Opens the state held by `backend` (a new empty one when there is none).
    pub fn open_in(backend: Arc<dyn StateBackend>, env: &str) -> Result<Self, StateError> {
        let path = PathBuf::from(backend.location());
        let (state, version, exists) = match backend.read()? {
            Some(stored) => (parse(&path, &stored.bytes)?, stored.version, true),
            None => (State::new(env), None, false),
        };
        if state.env != env {
            return Err(StateError::WrongEnv {
                path,
                found: state.env,
                expected: env.into(),
            });
        }
        Ok(StateStore {
            backend,
            path,
            version,
            exists,
            state,
        })
    }

    /// The file path or `s3://bucket/key`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the state lives (for the lock beside it and for messages).
    pub fn backend(&self) -> &Arc<dyn StateBackend> {
        &self.backend
    }

    /// Whether the state was stored yet.
    pub fn exists(&self) -> bool {
        self.exists
    }

    /// Binds the state to the AWS account `account`: a new state records it
    /// (written with the next [`save`](Self::save)); a state that records
    /// it already is left as it is.
    ///
    /// # Errors
    /// [`StateError::WrongAccount`] when the state records another account;
    /// the state is unchanged.
    pub fn bind_account(&mut self, account: &str) -> Result<(), StateError> {
        match &self.state.account {
            Some(recorded) if recorded != account => Err(StateError::WrongAccount {
                path: self.path.clone(),
                recorded: recorded.clone(),
                actual: account.to_string(),
            }),
            _ => {
                self.state.account = Some(account.to_string());
                Ok(())
            }
        }
    }

    /// Bumps the serial and writes the state (atomically; conditionally on
    /// the version last read, where the backend has versions). On error
    /// nothing changes in memory.
    pub fn save(&mut self) -> Result<(), StateError> {
        let write = self.prepare_save();
        let version = write.write()?;
        self.finish_save(&write, version);
        Ok(())
    }

    /// The first half of [`save`](Self::save), for writers that must not
    /// hold the store while the bytes go out (the executor's group commit,
    /// `crate::journal`): a copy of the state with the next serial.
    /// Changes made to `self.state` after this are not in it. Write it with
    /// [`PreparedSave::write`], then record the outcome with
    /// [`finish_save`](Self::finish_save); one prepared save at a time.
    pub fn prepare_save(&self) -> PreparedSave {
        let mut state = self.state.clone();
        state.serial += 1;
        PreparedSave {
            state,
            backend: self.backend.clone(),
            path: self.path.clone(),
            expected: self.version.clone(),
        }
    }

    /// Records that `write` (from [`prepare_save`](Self::prepare_save)) is
    /// stored as `version`: the next write's serial and condition follow it.
    pub fn finish_save(&mut self, write: &PreparedSave, version: Option<String>) {
        self.version = version;
        self.exists = true;
        self.state.serial = self.state.serial.max(write.state.serial);
    }

    /// Writes `state` as it is (serial and lineage kept): `state push` and
    /// `state migrate`. Conditional like [`save`](Self::save).
    pub fn replace(&mut self, state: State) -> Result<(), StateError> {
        let text = to_text(&state).map_err(|e| StateError::Write {
            path: self.path.clone(),
            source: std::io::Error::other(e),
        })?;
        if secrets::contains_secret(&text) {
            return Err(StateError::SecretLeak {
                path: self.path.clone(),
            });
        }
        self.version = self
            .backend
            .write(text.as_bytes(), self.version.as_deref())?;
        self.exists = true;
        self.state = state;
        Ok(())
    }
}

/// A state copy on its way to the backend ([`StateStore::prepare_save`]).
#[derive(Debug)]
pub struct PreparedSave {
    state: State,
    backend: Arc<dyn StateBackend>,
    path: PathBuf,
    expected: Option<String>,
}

impl PreparedSave {
    /// The serial this write gives the state.
    pub fn serial(&self) -> u64 {
        self.state.serial
    }

    /// Serialises and writes (atomically, conditionally like
    /// [`StateStore::save`]); returns the stored version. Blocks on the
    /// backend (a local fsync, or an S3 put).
    pub fn write(&self) -> Result<Option<String>, StateError> {
        let text = to_text(&self.state).map_err(|e| StateError::Write {
            path: self.path.clone(),
            source: std::io::Error::other(e),
        })?;
        if secrets::contains_secret(&text) {
            return Err(StateError::SecretLeak {
                path: self.path.clone(),
            });
        }
        Ok(self
            .backend
            .write(text.as_bytes(), self.expected.as_deref())?)
    }
}

/// The stored form: pretty JSON and a final newline (the same in every backend,
/// so a migrated state is byte for byte the same).
pub fn to_text(state: &State) -> serde_json::Result<String> {
    let mut text = serde_json::to_string_pretty(state)?;
    text.push('\n');
    Ok(text)
}

/// Parses state bytes read from `path` (a file or `s3://` URL, for messages).
pub fn parse_state(path: &Path, bytes: &[u8]) -> Result<State, StateError> {
    parse(path, bytes)
}

fn parse(path: &Path, bytes: &[u8]) -> Result<State, StateError> {
    let corrupt = |e: serde_json::Error| StateError::Corrupt {
        path: path.into(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    };
    // Check the version before the shape, so a newer format is reported as such.
    let raw: serde_json::Value = serde_json::from_slice(bytes).map_err(corrupt)?;
    match raw.get("format_version").and_then(|v| v.as_u64()) {
        Some(v) if (STATE_FORMAT_OLDEST as u64..=STATE_FORMAT_VERSION as u64).contains(&v) => {}
        Some(found) => {
            return Err(StateError::UnknownVersion {
                path: path.into(),
                found,
            })
        }
        None => {
            return Err(StateError::Corrupt {
                path: path.into(),
                line: 1,
                column: 1,
                message: "missing format_version".into(),
            })
        }
    }
    // Parsed again from the bytes so that a shape error has its line.
    drop(raw);
    let mut state: State = serde_json::from_slice(bytes).map_err(corrupt)?;
    // Older versions are subsets of this one: they migrate by being written back.
    state.format_version = STATE_FORMAT_VERSION;
    Ok(state)
}

/// Writes `bytes` to `path` via a temp file + fsync + rename, keeping the
/// previous file as `<path>.backup` when `keep_backup`. Mode 0600.
pub fn write_atomically(path: &Path, bytes: &[u8], keep_backup: bool) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir)?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".into());
    let tmp = dir.join(format!(".{file_name}.tmp.{}", std::process::id()));
    {
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    if keep_backup && path.exists() {
        let backup = dir.join(format!("{file_name}.backup"));
        fs::copy(path, &backup)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&backup, fs::Permissions::from_mode(0o600))?;
        }
    }
    fs::rename(&tmp, path)?;
    if let Ok(d) = fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    remove_dead_writers_temp_files(&dir, &file_name);
    Ok(())
}

/// Removes the temp files that writers killed between writing and renaming
/// left beside `file_name` (`.NAME.tmp.PID`, found after `kill -9` runs).
/// Only those of processes no longer running: a live writer's file is its
/// own. Best effort: a file that cannot be listed or removed stays.
fn remove_dead_writers_temp_files(dir: &Path, file_name: &str) {
    let prefix = format!(".{file_name}.tmp.");
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !crate::lock::process_alive(pid) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `kill -9` between the temp write and the rename leaves
    /// `.NAME.tmp.PID`; the next write removes those of dead processes and
    /// keeps a live one's (a trial found five left after 25 kills).
    #[test]
    fn a_write_removes_temp_files_of_dead_writers_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dev.state.json");
        let mut dead = std::process::Command::new("true").spawn().unwrap();
        let dead_pid = dead.id();
        dead.wait().unwrap();
        let mut live = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let dead_tmp = dir.path().join(format!(".dev.state.json.tmp.{dead_pid}"));
        let live_tmp = dir
            .path()
            .join(format!(".dev.state.json.tmp.{}", live.id()));
        let other = dir.path().join(".other.json.tmp.1");
        for f in [&dead_tmp, &live_tmp, &other] {
            fs::write(f, b"{").unwrap();
        }
        write_atomically(&path, b"{}", true).unwrap();
        let _ = live.kill();
        let _ = live.wait();
        assert!(!dead_tmp.exists(), "a dead writer's temp file is removed");
        assert!(live_tmp.exists(), "a live writer's temp file is kept");
        assert!(other.exists(), "another file's temp file is not touched");
        assert_eq!(fs::read(&path).unwrap(), b"{}");
    }

    fn store_in(dir: &Path) -> StateStore {
        StateStore::open(&dir.join("dev.state.json"), "dev").unwrap()
    }

    #[test]
    fn a_state_is_bound_to_one_account() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store_in(dir.path());
        s.bind_account("111111111111").unwrap();
        assert_eq!(s.state.account.as_deref(), Some("111111111111"));
        s.bind_account("111111111111").unwrap();
        let e = s.bind_account("222222222222").unwrap_err();
        assert!(
            e.to_string().ends_with(
                "belongs to account 111111111111, but the credentials are for account 222222222222"
            ),
            "{e}"
        );
        assert_eq!(s.state.account.as_deref(), Some("111111111111"));
    }

    #[test]
    fn save_bumps_serial_keeps_backup_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store_in(dir.path());
        s.save().unwrap();
        s.save().unwrap();
        assert_eq!(s.state.serial, 2);
        let back = store_in(dir.path());
        assert_eq!(back.state.serial, 2);
        assert_eq!(back.state.lineage, s.state.lineage);
        let backup = fs::read_to_string(dir.path().join("dev.state.json.backup")).unwrap();
        assert!(backup.contains("\"serial\": 1"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(s.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    fn assert_untouched_error(content: &[u8], expect: &str) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dev.state.json");
        fs::write(&path, content).unwrap();
        let err = StateStore::open(&path, "dev").unwrap_err().to_string();
        assert!(err.contains(expect), "{err}");
        assert!(err.contains("dev.state.json"), "{err}");
        assert_eq!(fs::read(&path).unwrap(), content);
    }

    #[test]
    fn corrupt_truncated_and_future_files_are_errors_and_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store_in(dir.path());
        s.save().unwrap();
        let good = fs::read(s.path()).unwrap();
        assert_untouched_error(&good[..good.len() / 2], "not valid drctl state");
        assert_untouched_error(b"garbage{", "not valid drctl state");
        let future = String::from_utf8(good.clone())
            .unwrap()
            .replace("\"format_version\": 2", "\"format_version\": 7");
        assert_untouched_error(future.as_bytes(), "format_version 7");
        let unknown_key = String::from_utf8(good)
            .unwrap()
            .replace("\"serial\"", "\"surprise\": 1, \"serial\"");
        assert_untouched_error(unknown_key.as_bytes(), "unknown field");
    }

    #[test]
    fn version_1_states_load_and_are_written_as_version_2_with_deposed_objects() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dev.state.json");
        let v1 = r#"{"format_version": 1, "lineage": "L", "serial": 4, "env": "dev",
            "resources": {"r/x": {"kind": "k", "name": "x", "id": "x-1"}}, "pending": {}, "generations": {}}"#;
        fs::write(&path, v1).unwrap();
        let mut s = StateStore::open(&path, "dev").unwrap();
        assert_eq!(s.state.resources[&Address::new("r/x")].id, "x-1");
        assert!(s.state.deposed.is_empty());
        let old = s.state.resources.remove(&Address::new("r/x")).unwrap();
        s.state.deposed.insert(
            Address::new("r/x"),
            vec![DeposedObject {
                key: "0a1b2c3d".into(),
                object: old,
                deposed_at: "now".into(),
            }],
        );
        s.save().unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"format_version\": 2"), "{text}");
        let back = StateStore::open(&path, "dev").unwrap().state;
        assert_eq!(back.deposed_ids()[&Address::new("r/x")], vec!["x-1"]);
        let mut back = back;
        back.forget_deposed(&Address::new("r/x"), "0a1b2c3d");
        assert!(back.deposed.is_empty());
    }

    #[test]
    fn tokens_are_stable_and_change_with_generation() {
        let a = Address::new("us-east-1/network/nat");
        let t1 = idempotency_token("L", &a, 0);
        assert_eq!(t1, idempotency_token("L", &a, 0));
        assert_eq!(t1.len(), 32);
        assert_ne!(t1, idempotency_token("L", &a, 1));
        assert_ne!(t1, idempotency_token("M", &a, 0));
    }

    #[test]
    fn refuses_to_write_a_registered_secret() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store_in(dir.path());
        let secret = "s3cr3t-value-for-state-test-9f8e7d";
        crate::secrets::register(secret);
        s.state.resources.insert(
            Address::new("r/x"),
            ResourceState {
                kind: "k".into(),
                region: None,
                name: secret.into(),
                id: "x".into(),
                attrs: Props::new(),
                applied: Props::new(),
                dependencies: vec![],
            },
        );
        assert!(matches!(s.save(), Err(StateError::SecretLeak { .. })));
        assert!(!s.path().exists());
    }
}
