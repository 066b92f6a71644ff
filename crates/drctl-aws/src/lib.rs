//! drctl's AWS reconcilers: one module per resource kind, each holding the
//! kind's whole life (read, diff, create, update, delete, wait).
//!
//! Shared rules live once: [`errors`] (the error-class table), [`retry`]
//! (backoff and waits), [`tags`] (ownership tags in create calls),
//! [`clients`] (per-region clients, emulator quirks, call counting).

pub mod clients;
pub mod errors;
pub mod props;
pub mod retry;
pub mod tags;

pub mod vpc;

pub use clients::Aws;

use drctl_core::reconcile::Registry;
use std::sync::Arc;

/// Every reconciler, bound to one set of clients.
pub fn registry(aws: &Aws) -> Registry {
    let mut r = Registry::new();
    r.register(Arc::new(vpc::VpcReconciler { aws: aws.clone() }));
    r
}
