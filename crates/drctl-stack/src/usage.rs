//! The optional `[usage]` table of an environment plan: the monthly
//! quantities that usage-based cost lines need (traffic, requests, stored
//! data), which no resource's properties say.
//!
//! ```toml
//! [usage]
//! nat_gb = 300                 # every region
//! dynamodb_write_million = 20  # the table as a whole
//!
//! [usage.us-west-2]            # one region (the standby is quieter)
//! nat_gb = 20
//! alb_lcu = 0.2
//! ```
//!
//! Keys marked per-region may be set in `[usage]` (every region) and
//! overridden in `[usage.<region>]`; the others describe the data as a
//! whole (both regions hold the same) and belong in `[usage]` only.

use std::collections::BTreeMap;

/// One usage quantity: its key, documented default and unit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UsageKey {
    /// The key in `[usage]` (snake case, like `nat_gb`).
    pub name: &'static str,
    /// The figure used when the plan does not set the key, in `unit`s.
    pub default: f64,
    /// What one of the quantity is (`GB/month`, `LCU`), as the price lists bill it.
    pub unit: &'static str,
    /// May be set per region in `[usage.<region>]`.
    pub per_region: bool,
    /// One line for `drctl cost` and the README: what the quantity counts.
    pub doc: &'static str,
}

/// Every usage key with its default. The defaults are a small production
/// service, not a measurement: set your own from the bill or CloudWatch.
pub const KEYS: &[UsageKey] = &[
    UsageKey { name: "nat_gb", default: 100.0, unit: "GB/month", per_region: true,
        doc: "data each region's NAT gateway processes (instances' outbound traffic: updates, external APIs)" },
    UsageKey { name: "alb_lcu", default: 1.0, unit: "LCU", per_region: true,
        doc: "average load balancer capacity units each ALB uses, over every hour of the month" },
    UsageKey { name: "internet_egress_gb", default: 100.0, unit: "GB/month", per_region: true,
        doc: "data each region's ALB sends to the internet" },
    UsageKey { name: "dynamodb_read_million", default: 10.0, unit: "million read request units/month", per_region: true,
        doc: "reads of the sessions table in each region" },
    UsageKey { name: "dynamodb_write_million", default: 2.0, unit: "million write request units/month", per_region: false,
        doc: "writes to the sessions table; each is billed once per replica (replicated writes)" },
    UsageKey { name: "dynamodb_storage_gb", default: 5.0, unit: "GB", per_region: false,
        doc: "size of the sessions table; each replica stores all of it (and backs it up with PITR)" },
    UsageKey { name: "s3_storage_gb", default: 100.0, unit: "GB", per_region: false,
        doc: "data in the bucket; the replica bucket holds the same" },
    UsageKey { name: "s3_replicated_gb", default: 10.0, unit: "GB/month", per_region: false,
        doc: "new data replicated to the secondary region each month (inter-region transfer + Replication Time Control)" },
    UsageKey { name: "sns_email_notifications", default: 100.0, unit: "emails/month", per_region: true,
        doc: "alert emails each region's topic sends" },
];

/// The key named `name`, if there is one.
pub fn key(name: &str) -> Option<&'static UsageKey> {
    KEYS.iter().find(|k| k.name == name)
}

/// Where a usage figure came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Not in the plan: the key's [`UsageKey::default`].
    Default,
    /// `[usage]`
    Plan,
    /// `[usage.<region>]`
    Region,
}

/// The quantities set in the plan; everything else is its default.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Usage {
    /// `[usage]`: key → value.
    pub all: BTreeMap<String, f64>,
    /// `[usage.<region>]`: region → key → value.
    pub regions: BTreeMap<String, BTreeMap<String, f64>>,
}

impl Usage {
    /// The value of `key` for `region` (`None`: env-wide), and where it came
    /// from. Panics only for a key not in [`KEYS`] (a bug in drctl).
    pub fn get(&self, name: &str, region: Option<&str>) -> (f64, Origin) {
        let k = key(name).unwrap_or_else(|| panic!("usage key {name} is not in usage::KEYS"));
        if let Some(v) = region
            .and_then(|r| self.regions.get(r))
            .and_then(|m| m.get(name))
        {
            return (*v, Origin::Region);
        }
        match self.all.get(name) {
            Some(v) => (*v, Origin::Plan),
            None => (k.default, Origin::Default),
        }
    }
}

/// Checks one `[usage]` value: a finite, non-negative number.
pub(crate) fn number(v: &toml::Value) -> Result<f64, String> {
    let n = match v {
        toml::Value::Integer(i) => *i as f64,
        toml::Value::Float(f) => *f,
        other => {
            return Err(format!(
                "must be a number (got {} {other})",
                other.type_str()
            ))
        }
    };
    if !n.is_finite() || n < 0.0 {
        return Err(format!("must be zero or more (got {n})"));
    }
    Ok(n)
}

/// "a, b, c" of every key (per-region ones only when asked).
pub(crate) fn key_list(per_region_only: bool) -> String {
    KEYS.iter()
        .filter(|k| !per_region_only || k.per_region)
        .map(|k| k.name)
        .collect::<Vec<_>>()
        .join(", ")
}
