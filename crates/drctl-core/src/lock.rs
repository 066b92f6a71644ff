//! One writer per state file: `<state>.lock`, created exclusively.
//!
//! The lock holds pid, host, command and start time so that a second run can
//! name the holder. It is removed when the [`StateLock`] is dropped; a lock
//! left by a killed process stays until `drctl force-unlock`.

use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use thiserror::Error;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LockInfo {
    pub pid: u32,
    pub host: String,
    pub command: String,
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

#[derive(Debug, Error)]
pub enum LockError {
    #[error("state is locked by {holder}{}; wait for it, pass --lock-timeout, or if that process is gone run `drctl force-unlock`  (lock file {path})", if *.stale { " — that process is no longer running on this host" } else { "" })]
    Held {
        path: PathBuf,
        holder: LockInfo,
        stale: bool,
    },
    #[error("state lock {path} exists but cannot be read ({detail}); remove it with `drctl force-unlock` if no drctl is running")]
    Unreadable { path: PathBuf, detail: String },
    #[error("cannot create lock file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Held lock; released on drop.
#[derive(Debug)]
pub struct StateLock {
    path: PathBuf,
}

pub fn lock_path(state_path: &Path) -> PathBuf {
    let mut p = state_path.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
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

fn process_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Reads the current holder, if any.
pub fn read_holder(state_path: &Path) -> Result<Option<LockInfo>, LockError> {
    let path = lock_path(state_path);
    match fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| LockError::Unreadable {
                path,
                detail: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(LockError::Unreadable {
            path,
            detail: e.to_string(),
        }),
    }
}

/// Whether the holder is a process that is gone (only knowable on this host).
pub fn is_stale(info: &LockInfo) -> bool {
    info.host == hostname() && !process_alive(info.pid)
}

impl StateLock {
    /// Takes the lock, waiting up to `timeout` for a holder to let go.
    pub fn acquire(state_path: &Path, command: &str, timeout: Duration) -> Result<Self, LockError> {
        let path = lock_path(state_path);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|source| LockError::Io {
                path: path.clone(),
                source,
            })?;
        }
        let info = LockInfo {
            pid: std::process::id(),
            host: hostname(),
            command: command.to_string(),
            started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        };
        let deadline = Instant::now() + timeout;
        loop {
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    let body = serde_json::to_vec_pretty(&info).unwrap_or_default();
                    f.write_all(&body)
                        .and_then(|_| f.sync_all())
                        .map_err(|source| LockError::Io {
                            path: path.clone(),
                            source,
                        })?;
                    return Ok(StateLock { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    if Instant::now() >= deadline {
                        let holder = read_holder(state_path)?.ok_or(LockError::Unreadable {
                            path: path.clone(),
                            detail: "it vanished while being read".into(),
                        });
                        let holder = match holder {
                            Ok(h) => h,
                            Err(_) => continue, // released meanwhile: try again
                        };
                        let stale = is_stale(&holder);
                        return Err(LockError::Held {
                            path,
                            holder,
                            stale,
                        });
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(source) => return Err(LockError::Io { path, source }),
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for StateLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Removes a lock regardless of its holder (`drctl force-unlock`).
pub fn force_unlock(state_path: &Path) -> std::io::Result<bool> {
    match fs::remove_file(lock_path(state_path)) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(!msg.contains("no longer running"), "{msg}");
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
    fn stale_lock_is_reported_and_force_unlock_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("dev.state.json");
        let dead = LockInfo {
            pid: u32::MAX - 7, // no such process
            host: hostname(),
            command: "drctl apply".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
        };
        fs::write(lock_path(&state), serde_json::to_vec(&dead).unwrap()).unwrap();
        let err = StateLock::acquire(&state, "drctl plan", Duration::ZERO).unwrap_err();
        assert!(err.to_string().contains("no longer running"), "{err}");
        assert!(force_unlock(&state).unwrap());
        assert!(!force_unlock(&state).unwrap());
        StateLock::acquire(&state, "drctl plan", Duration::ZERO).unwrap();
    }
}
