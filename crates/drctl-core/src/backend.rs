//! Where the state document lives and how its one writer is chosen.
//!
//! [`StateBackend`] is what [`crate::state::StateStore`] reads from and writes
//! to: [`LocalBackend`] (the file plus its `<file>.lock`, the default) or
//! [`crate::remote::RemoteBackend`] (an object store such as S3, with ETag
//! conditional writes and a lease lock; see that module).
//!
//! Guarantees every backend gives:
//! - `write` with `expected = Some(v)` succeeds only if the stored version is
//!   still `v` (the one last read or written); else [`BackendError::Conflict`]
//!   and nothing is written.
//! - A [`HeldLock`] is released when dropped (and by [`HeldLock::release`],
//!   which signal handlers call before exiting).

use crate::lock::{LockError, StateLock};
use crate::state::write_atomically;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use thiserror::Error;

/// A stored state document and its version (an S3 ETag; `None` for a local file).
#[derive(Clone, Debug, PartialEq)]
pub struct Stored {
    /// The document as stored (the state's JSON, UTF-8).
    pub bytes: Vec<u8>,
    /// The version to pass as the next write's `expected`: the S3 ETag,
    /// quotes included; `None` for a local file (one writer by the lock).
    pub version: Option<String>,
}

/// Why a state document could not be read or written. Each names the
/// location and leaves the stored document as it was.
#[derive(Debug, Error)]
pub enum BackendError {
    /// Someone else wrote the document since we read it: nothing was written.
    #[error("{location} was changed by another writer since drctl read it ({detail}); nothing was written. Run the command again to start from the new state")]
    Conflict {
        /// `s3://bucket/key` or the file path.
        location: String,
        /// What the store said (`PreconditionFailed`, the ETags).
        detail: String,
    },
    /// Reading failed (I/O, access denied, a network error after retries).
    #[error("cannot read {location}: {detail}")]
    Read {
        /// `s3://bucket/key` or the file path.
        location: String,
        /// The operating system's or the store's error.
        detail: String,
    },
    /// Writing failed; the previous version stands.
    #[error("cannot write {location}: {detail}")]
    Write {
        /// `s3://bucket/key` or the file path.
        location: String,
        /// The operating system's or the store's error.
        detail: String,
    },
    /// The lock was taken over by another run (our lease expired unrenewed).
    #[error("lost the state lock on {location}: {detail}; nothing more was written. Run `drctl plan` to see where things stand")]
    LockLost {
        /// `s3://bucket/key` or the file path.
        location: String,
        /// Who holds the lock now, or why the lease could not be renewed.
        detail: String,
    },
}

/// A held state lock. Dropping it releases it.
pub trait HeldLock: Send + Sync + fmt::Debug {
    /// The lock id (`drctl force-unlock LOCK_ID`); empty for a local lock.
    fn id(&self) -> &str;
    /// Releases now (idempotent); used on Ctrl-C and SIGTERM before exiting.
    fn release(&self);
    /// Why the lock is no longer ours, if it was taken over.
    fn lost(&self) -> Option<String> {
        None
    }
    /// The holder whose lock this run took over when it started (a local
    /// lock whose process is gone on this host), for the warning the CLI
    /// prints. Remote leases warn through `tracing` as they take over.
    fn taken_over(&self) -> Option<String> {
        None
    }
}

/// Errors of taking or inspecting a lock, whichever the backend.
#[derive(Debug, Error)]
pub enum AcquireError {
    /// The local `<state>.lock` is held, or cannot be created.
    #[error(transparent)]
    Local(#[from] LockError),
    /// The remote lease is held by a live run, or the store failed; the
    /// message names the holder and what to do.
    #[error("{0}")]
    Remote(String),
}

/// The outcome of `force_unlock`.
#[derive(Debug, PartialEq)]
pub enum Unlocked {
    /// A lock was removed: who held it ([`crate::lock::Lock::describe`]).
    Removed(String),
    /// There was no lock to remove.
    NoLock,
}

/// Where a state lives: read, conditional write, lock.
pub trait StateBackend: Send + Sync + fmt::Debug {
    /// `s3://bucket/key` or the file path, for messages.
    fn location(&self) -> String;
    /// The document, or `None` when nothing was ever written.
    fn read(&self) -> Result<Option<Stored>, BackendError>;
    /// Writes `bytes` if the stored version is still `expected` (`None`: the
    /// document must not exist yet, for backends that can tell). Returns the new version.
    fn write(&self, bytes: &[u8], expected: Option<&str>) -> Result<Option<String>, BackendError>;
    /// Takes the lock for `command`, waiting up to `timeout` for a holder.
    fn lock(&self, command: &str, timeout: Duration) -> Result<Arc<dyn HeldLock>, AcquireError>;
}

/// The state file on disk (atomic writes, `.backup`, mode 0600) and its
/// `<file>.lock` ([`crate::lock`]).
#[derive(Debug, Clone)]
pub struct LocalBackend {
    /// The state file (`.drctl/<env>.state.json` by default); its backup
    /// and lock sit beside it.
    pub path: PathBuf,
}

impl StateBackend for LocalBackend {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn read(&self) -> Result<Option<Stored>, BackendError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => Ok(Some(Stored {
                bytes,
                version: None,
            })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(BackendError::Read {
                location: self.location(),
                detail: e.to_string(),
            }),
        }
    }

    /// One writer is ensured by the lock file; no version check.
    fn write(&self, bytes: &[u8], _expected: Option<&str>) -> Result<Option<String>, BackendError> {
        write_atomically(&self.path, bytes, true).map_err(|e| BackendError::Write {
            location: self.location(),
            detail: e.to_string(),
        })?;
        Ok(None)
    }

    fn lock(&self, command: &str, timeout: Duration) -> Result<Arc<dyn HeldLock>, AcquireError> {
        let lock = StateLock::acquire(&self.path, command, timeout)?;
        let dead = lock.taken_over().map(|d| d.to_string());
        Ok(Arc::new(LocalHeld(Mutex::new(Some(lock)), dead)))
    }
}

/// A local lock file held until released or dropped.
#[derive(Debug)]
struct LocalHeld(Mutex<Option<StateLock>>, Option<String>);

impl HeldLock for LocalHeld {
    fn id(&self) -> &str {
        ""
    }
    fn release(&self) {
        if let Ok(mut g) = self.0.lock() {
            g.take();
        }
    }
    fn taken_over(&self) -> Option<String> {
        self.1.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_backend_round_trips_and_locks_once() {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBackend {
            path: dir.path().join("dev.state.json"),
        };
        assert_eq!(b.read().unwrap(), None);
        b.write(b"{}\n", None).unwrap();
        assert_eq!(b.read().unwrap().unwrap().bytes, b"{}\n");
        let held = b.lock("drctl apply", Duration::ZERO).unwrap();
        let err = b.lock("drctl plan", Duration::ZERO).unwrap_err();
        assert!(err.to_string().contains("drctl apply"), "{err}");
        held.release();
        b.lock("drctl plan", Duration::ZERO).unwrap();
    }
}
