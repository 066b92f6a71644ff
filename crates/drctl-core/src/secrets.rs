//! A process-wide register of secret values (the DB password) so that every
//! writer of files drctl produces (state, saved plans) can refuse to write
//! one. Defence in depth: reconcilers already keep secrets out of props and
//! attributes.

use std::sync::{Mutex, OnceLock};

fn registry() -> &'static Mutex<Vec<String>> {
    static SECRETS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    SECRETS.get_or_init(|| Mutex::new(Vec::new()))
}

/// Remembers `value` as secret for the life of the process.
pub fn register(value: &str) {
    if value.len() < 8 {
        return; // too short to search for without false alarms
    }
    if let Ok(mut v) = registry().lock() {
        if !v.iter().any(|s| s == value) {
            v.push(value.to_string());
        }
    }
}

/// True when `text` contains any registered secret.
pub fn contains_secret(text: &str) -> bool {
    registry()
        .lock()
        .map(|v| v.iter().any(|s| text.contains(s.as_str())))
        .unwrap_or(false)
}
