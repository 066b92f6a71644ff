//! Secrets Manager: the database master password.

pub mod secret;
