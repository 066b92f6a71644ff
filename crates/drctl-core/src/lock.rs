//! One writer per state file: `<state>.lock`, created exclusively.
//!
//! The lock holds a random lock id, pid, host, command and start time so
//! that a second run can name the holder. It is removed when the
//! [`StateLock`] is dropped. A lock left by a process that is gone *on this
//! host* is taken over by the next run (which says so); a lock from another
//! host, where drctl cannot see the process, stays until
//! `drctl force-unlock LOCK_ID`, which refuses a holder alive on this host.
//!
//! Creating a lock and removing someone else's (takeover, force-unlock)
//! happen under an OS lock (flock) on the state's folder, and a removal
//! only after re-reading the lock and finding the very holder that was
//! judged gone: two runs taking over the same stale lock can never remove
//! each other's fresh one. The OS releases that lock when a process dies.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use thiserror::Error;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
/// The holder of a lock: the JSON document in `<state>.lock` (the same
/// shape in the S3 lock object's body).
pub struct LockInfo {
    /// Random id of this lock, what `drctl force-unlock` takes. Lock files
    /// written before it existed have none (see [`Lock::id`]).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// The holder's process id.
    pub pid: u32,
    /// The holder's host name (a takeover is only judged on the same host).
    pub host: String,
    /// The holder's command line, for messages (`drctl apply --env dev`).
    pub command: String,
    /// When it took the lock, RFC 3339 UTC to the second.
    pub started_at: String,
}

impl std::fmt::Display for LockInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "'{}' (pid {} on {}, since {})",
            self.command, self.pid, self.host, self.started_at
        )
    }
}

/// A lock file as found: its id and, when it parses, its holder.
#[derive(Clone, Debug, PartialEq)]
pub struct Lock {
    /// The holder's lock id, or for a lock file without one (unreadable, or
    /// written by an older drctl) the first 12 hex digits of its SHA-256.
    pub id: String,
    /// Who holds it; `None` when the file does not parse (see `unreadable`).
    pub holder: Option<LockInfo>,
    /// Why the holder could not be read.
    pub unreadable: Option<String>,
    bytes: Vec<u8>,
}

impl Lock {
    fn parse(bytes: Vec<u8>) -> Lock {
        let parsed = serde_json::from_slice::<LockInfo>(&bytes);
        let hash = || hex::encode(&Sha256::digest(&bytes)[..6]);
        match parsed {
            Ok(h) => Lock {
                id: if h.id.is_empty() {
                    hash()
                } else {
                    h.id.clone()
                },
                holder: Some(h),
                unreadable: None,
                bytes,
            },
            Err(e) => Lock {
                id: hash(),
                holder: None,
                unreadable: Some(e.to_string()),
                bytes,
            },
        }
    }

    /// Who holds it, for messages.
    pub fn describe(&self) -> String {
        match &self.holder {
            Some(h) => format!("{h}"),
            None => format!(
                "an unreadable lock ({})",
                self.unreadable.as_deref().unwrap_or("?")
            ),
        }
    }

    /// Where the holder is, as far as this host can tell.
    pub fn liveness(&self) -> Liveness {
        match &self.holder {
            Some(h) if h.host == hostname() => {
                if process_alive(h.pid) {
                    Liveness::Alive
                } else {
                    Liveness::Gone
                }
            }
            _ => Liveness::Unknown,
        }
    }
}

/// Whether a lock's holder runs, seen from this host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    /// A live process on this host.
    Alive,
    /// On this host, and no such process: the lock is stale.
    Gone,
    /// On another host, or the lock is unreadable: cannot tell.
    Unknown,
}

#[derive(Debug, Error)]
/// Why a lock could not be taken.
pub enum LockError {
    #[error("state is locked by {holder} (lock id {id}); {}  (lock file {})", advice(*.liveness, .id), .path.display())]
    /// Another run holds the lock (and `--lock-timeout` ran out); the message
    /// says who, and whether `drctl force-unlock` is safe.
    Held {
        /// The lock file.
        path: PathBuf,
        /// The holder's lock id (what `drctl force-unlock` takes).
        id: String,
        /// Who holds it ([`Lock::describe`]).
        holder: String,
        /// Whether the holder still runs, as far as this host can tell.
        liveness: Liveness,
    },
    #[error("cannot create or read lock file {path}: {source}")]
    /// The lock file or the state's folder cannot be created or read.
    Io {
        /// The file that failed.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
}

/// What to do about a held lock, by where its holder is.
fn advice(liveness: Liveness, id: &str) -> String {
    match liveness {
        Liveness::Alive => {
            "that run is still going on this host: wait for it, or pass --lock-timeout to wait".into()
        }
        _ => format!(
            "if that run is gone, remove the lock with `drctl force-unlock {id}` (same --env or --state); else wait for it, or pass --lock-timeout"
        ),
    }
}

/// Held lock; released on drop.
#[derive(Debug)]
pub struct StateLock {
    path: PathBuf,
    id: String,
    taken_over: Option<LockInfo>,
}

/// The lock file of a state file: `<state>.lock`, beside it.
pub fn lock_path(state_path: &Path) -> PathBuf {
    let mut p = state_path.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

/// The folder holding the state: its OS lock is the guard.
fn guard_path(state_path: &Path) -> PathBuf {
    match lock_path(state_path).parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// This host's name (`/etc/hostname`, else `$HOSTNAME`).
pub fn hostname() -> String {
    fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into())
}

/// Whether process `pid` of this host is running (Linux `/proc`; a
/// zombie counts as gone).
pub(crate) fn process_alive(pid: u32) -> bool {
    // A zombie (killed, not yet reaped by its parent) is gone too.
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_none_or(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LockError + '_ {
    move |source| LockError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads the current lock, if any.
pub fn read(state_path: &Path) -> Result<Option<Lock>, LockError> {
    let path = lock_path(state_path);
    match fs::read(&path) {
        Ok(bytes) => Ok(Some(Lock::parse(bytes))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(&path)(e)),
    }
}

/// Runs `f` holding the OS lock (flock) of the state's folder: the one
/// place where a lock file is created or one not ours removed. Nothing is
/// written for it, and the OS drops it when the process dies.
fn guarded<T>(state_path: &Path, f: impl FnOnce() -> T) -> Result<T, LockError> {
    let path = guard_path(state_path);
    let guard = fs::File::open(&path).map_err(io(&path))?;
    guard.lock().map_err(io(&path))?;
    let out = f();
    let _ = guard.unlock();
    Ok(out)
}

/// Removes the lock file if it is still exactly `seen`. Returns whether it
/// did (false: it is gone or another holder has it now).
fn remove_if_unchanged(state_path: &Path, seen: &Lock) -> Result<bool, LockError> {
    let path = lock_path(state_path);
    guarded(state_path, || match fs::read(&path) {
        Ok(now) if now == seen.bytes => fs::remove_file(&path).map(|_| true),
        Ok(_) => Ok(false),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    })?
    .map_err(io(&path))
}

enum Attempt {
    /// Ours now; the holder it replaced, if that one was gone.
    Took(Option<LockInfo>),
    Held(Lock, Liveness),
}

/// One try, under the guard: create the lock, or replace a lock whose
/// holder is gone on this host. Every drctl creates its lock under the
/// guard, so nobody can slip in between the removal and the creation.
fn attempt(state_path: &Path, info: &LockInfo) -> Result<Attempt, LockError> {
    let path = lock_path(state_path);
    guarded(state_path, || {
        let mut taken_over = None;
        if let Some(lock) = read(state_path)? {
            let liveness = lock.liveness();
            if liveness != Liveness::Gone {
                return Ok(Attempt::Held(lock, liveness));
            }
            match fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&path)(e)),
                _ => {}
            }
            taken_over = lock.holder;
        }
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut f) => {
                let body = serde_json::to_vec_pretty(info).unwrap_or_default();
                f.write_all(&body)
                    .and_then(|_| f.sync_all())
                    .map_err(io(&path))?;
                Ok(Attempt::Took(taken_over))
            }
            // Created meanwhile outside the guard (an older drctl): held.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => match read(state_path)? {
                Some(lock) => {
                    let liveness = lock.liveness();
                    Ok(Attempt::Held(lock, liveness))
                }
                None => Err(io(&path)(e)),
            },
            Err(e) => Err(io(&path)(e)),
        }
    })?
}

impl StateLock {
    /// Takes the lock, waiting up to `timeout` for a holder to let go. A
    /// holder that is gone on this host is taken over at once (see
    /// [`StateLock::taken_over`]).
    ///
    /// Errors: [`LockError::Held`] naming the holder and its lock id.
    pub fn acquire(state_path: &Path, command: &str, timeout: Duration) -> Result<Self, LockError> {
        let path = lock_path(state_path);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(io(&path))?;
        }
        let info = LockInfo {
            id: uuid::Uuid::new_v4().to_string(),
            pid: std::process::id(),
            host: hostname(),
            command: command.to_string(),
            started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        };
        let deadline = Instant::now() + timeout;
        loop {
            let (lock, liveness) = match attempt(state_path, &info)? {
                Attempt::Took(taken_over) => {
                    return Ok(StateLock {
                        path,
                        id: info.id,
                        taken_over,
                    })
                }
                Attempt::Held(lock, liveness) => (lock, liveness),
            };
            if Instant::now() >= deadline {
                return Err(LockError::Held {
                    path,
                    id: lock.id.clone(),
                    holder: lock.describe(),
                    liveness,
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The lock file this lock holds.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// This lock's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The holder of the stale lock this one replaced: a run on this host
    /// that is gone (killed). The caller warns with it.
    pub fn taken_over(&self) -> Option<&LockInfo> {
        self.taken_over.as_ref()
    }
}

impl Drop for StateLock {
    fn drop(&mut self) {
        // Only our own lock: a force-unlock may have handed it on.
        let state = self.path.with_extension("");
        let _ = guarded(&state, || {
            if let Ok(bytes) = fs::read(&self.path) {
                if Lock::parse(bytes).id == self.id {
                    let _ = fs::remove_file(&self.path);
                }
            }
        });
    }
}

/// Why `force_unlock` did not remove a lock.
#[derive(Debug, Error)]
pub enum UnlockError {
    #[error("there is no lock on {0}")]
    /// No lock file exists beside the state.
    NoLock(PathBuf),
    #[error("the lock on {state} has id {actual}, not {given}: it is held by {holder}. Check that no drctl is running on this state, then pass its id")]
    /// The lock's id is not the one given: it may be a newer run's.
    WrongId {
        /// The state file.
        state: PathBuf,
        /// The id the user passed.
        given: String,
        /// The id of the lock there.
        actual: String,
        /// Who holds it ([`Lock::describe`]).
        holder: String,
    },
    #[error("the lock on {state} is held by {holder}, which is running on this host: let it finish, or stop it (Ctrl-C saves the state); force-unlock never removes a live run's lock")]
    /// The holder is a live process on this host: never removed.
    Alive {
        /// The state file.
        state: PathBuf,
        /// Who holds it ([`Lock::describe`]).
        holder: String,
    },
    #[error("the lock on {0} changed while it was being removed; look again")]
    /// The lock file was replaced between reading and removing it.
    Changed(PathBuf),
    #[error(transparent)]
    /// The state's folder could not be locked or the lock read.
    Lock(#[from] LockError),
}

/// Removes the lock with id `lock_id` (`drctl force-unlock LOCK_ID`),
/// unless its holder is alive on this host. Returns what was removed.
pub fn force_unlock(state_path: &Path, lock_id: &str) -> Result<Lock, UnlockError> {
    let lock = read(state_path)?.ok_or_else(|| UnlockError::NoLock(state_path.to_path_buf()))?;
    if lock.id != lock_id {
        return Err(UnlockError::WrongId {
            state: state_path.to_path_buf(),
            given: lock_id.to_string(),
            actual: lock.id.clone(),
            holder: lock.describe(),
        });
    }
    if lock.liveness() == Liveness::Alive {
        return Err(UnlockError::Alive {
            state: state_path.to_path_buf(),
            holder: lock.describe(),
        });
    }
    if !remove_if_unchanged(state_path, &lock)? {
        return Err(UnlockError::Changed(state_path.to_path_buf()));
    }
    Ok(lock)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_lock(state: &Path, info: &LockInfo) {
        fs::write(lock_path(state), serde_json::to_vec(info).unwrap()).unwrap();
    }

    fn dead_here() -> LockInfo {
        LockInfo {
            id: "dead-1".into(),
            pid: u32::MAX - 7, // no such process
            host: hostname(),
            command: "drctl apply".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn second_writer_fails_naming_the_holder_then_succeeds_after_release() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("dev.state.json");
        let held = StateLock::acquire(&state, "drctl apply", Duration::ZERO).unwrap();
        let err = StateLock::acquire(&state, "drctl plan", Duration::from_millis(250)).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("drctl apply"), "{msg}");
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        assert!(msg.contains(&format!("lock id {}", held.id())), "{msg}");
        assert!(msg.contains("still going on this host"), "{msg}");
        // Alive here: force-unlock refuses, even with the right id.
        let e = force_unlock(&state, held.id()).unwrap_err();
        assert!(matches!(e, UnlockError::Alive { .. }), "{e}");
        drop(held);
        StateLock::acquire(&state, "drctl plan", Duration::ZERO).unwrap();
    }

    #[test]
    fn waits_for_a_holder_that_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("dev.state.json");
        let held = StateLock::acquire(&state, "drctl apply", Duration::ZERO).unwrap();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            drop(held);
        });
        StateLock::acquire(&state, "drctl plan", Duration::from_secs(10)).unwrap();
        t.join().unwrap();
    }

    #[test]
    fn a_dead_holder_on_this_host_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("dev.state.json");
        write_lock(&state, &dead_here());
        let lock = StateLock::acquire(&state, "drctl plan", Duration::ZERO).unwrap();
        assert_eq!(lock.taken_over(), Some(&dead_here()));
        let now = read(&state).unwrap().unwrap();
        assert_eq!(now.id, lock.id());
        assert_eq!(now.holder.unwrap().pid, std::process::id());
    }

    #[test]
    fn many_runs_taking_over_one_stale_lock_leave_exactly_one_holder() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("dev.state.json");
        for _ in 0..20 {
            write_lock(&state, &dead_here());
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
            let results: Vec<_> = (0..8)
                .map(|_| {
                    let (state, barrier) = (state.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        let r = StateLock::acquire(&state, "drctl apply", Duration::ZERO);
                        // Hold it until every thread has tried.
                        std::thread::sleep(Duration::from_millis(50));
                        r.map(|l| (l.id().to_string(), l.taken_over().is_some()))
                    })
                })
                .collect::<Vec<_>>()
                .into_iter()
                .map(|t| t.join().unwrap())
                .collect();
            let won: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
            assert_eq!(won.len(), 1, "{results:?}");
            assert!(won[0].1, "the winner took over the dead holder's lock");
            assert!(!lock_path(&state).exists(), "released");
        }
    }

    #[test]
    fn another_hosts_lock_needs_force_unlock_with_its_id() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("dev.state.json");
        let remote = LockInfo {
            host: "ci-runner-7".into(),
            pid: 1,
            ..dead_here()
        };
        write_lock(&state, &remote);
        let err = StateLock::acquire(&state, "drctl plan", Duration::ZERO).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("(pid 1 on ci-runner-7"), "{msg}");
        assert!(msg.contains("`drctl force-unlock dead-1`"), "{msg}");
        let e = force_unlock(&state, "nope").unwrap_err();
        assert!(e.to_string().contains("has id dead-1, not nope"), "{e}");
        assert!(lock_path(&state).exists());
        assert_eq!(force_unlock(&state, "dead-1").unwrap().id, "dead-1");
        assert!(matches!(
            force_unlock(&state, "dead-1"),
            Err(UnlockError::NoLock(_))
        ));
        StateLock::acquire(&state, "drctl plan", Duration::ZERO).unwrap();
    }

    #[test]
    fn an_unreadable_or_old_lock_gets_an_id_from_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("dev.state.json");
        fs::write(lock_path(&state), "{\"pid\": 4").unwrap();
        let lock = read(&state).unwrap().unwrap();
        assert_eq!(lock.id.len(), 12);
        assert_eq!(lock.liveness(), Liveness::Unknown);
        let err = StateLock::acquire(&state, "drctl plan", Duration::ZERO).unwrap_err();
        assert!(err.to_string().contains("an unreadable lock"), "{err}");
        force_unlock(&state, &lock.id).unwrap();
        assert!(!lock_path(&state).exists());
    }

    #[test]
    fn a_released_lock_is_not_removed_by_its_old_owner() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("dev.state.json");
        let old = StateLock::acquire(&state, "drctl apply", Duration::ZERO).unwrap();
        // Someone removed it and another run holds it now.
        fs::remove_file(lock_path(&state)).unwrap();
        let new = StateLock::acquire(&state, "drctl apply", Duration::ZERO).unwrap();
        drop(old);
        assert_eq!(read(&state).unwrap().unwrap().id, new.id());
    }
}
