//! What drctl builds.
//!
//! - [`envplan`]: `plans/<env>.toml`, parsed and validated.
//! - [`blueprint`]: the two-region stack (STACK.md) as resource specs.
//! - [`statecfg`]: where the state lives (`[state]`, `--state s3://…`).
//! - [`kinds`]: the resource kinds and their destroy-order rules (data).
//! - [`import_ids`]: the ids `drctl import` accepts (a kind's form, or its ARN).
//! - [`timings`]: how long each kind takes on real AWS (data, with sources).
//! - [`usage`]: the optional `[usage]` table (quantities for cost lines).

pub mod blueprint;
pub mod envplan;
pub mod import_ids;
pub mod kinds;
pub mod statecfg;
pub mod timings;
pub mod usage;
