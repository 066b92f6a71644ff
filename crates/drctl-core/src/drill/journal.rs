//! What a drill keeps in the state while it runs ([`DrillJournal`]): the
//! canaries it wrote and the setting it changed, with the values to put back.

use serde::{Deserialize, Serialize};

/// How the primary's failure is simulated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Primary ASG min and desired to 0 (the design document's option A).
    Asg,
    /// Revoke the primary ALB security group's 80/443 ingress (option B).
    Sg,
    /// Invert the primary Route53 health check (least invasive; the default).
    HealthCheck,
}

impl Method {
    /// The `--method` spelling (`asg`, `sg`, `health-check`), as the report shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Asg => "asg",
            Method::Sg => "sg",
            Method::HealthCheck => "health-check",
        }
    }
}

/// One ingress rule of the ALB security group, as revoked and re-authorized.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngressRule {
    /// IP protocol, as EC2 spells it (`tcp`).
    pub protocol: String,
    /// First port of the range (80 or 443 for the ALB).
    pub from_port: i32,
    /// Last port of the range, inclusive.
    pub to_port: i32,
    /// Source IPv4 CIDR (`0.0.0.0/0` for the public ALB).
    pub cidr: String,
}

/// The setting the injection changes, with its values *before* the drill.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Injection {
    /// Primary Auto Scaling group scaled to 0 ([`Method::Asg`]).
    Asg {
        /// The group's region (the primary's).
        region: String,
        /// The group's name.
        name: String,
        /// Its `min_size` before the drill, instances.
        min_size: i32,
        /// Its `desired_capacity` before the drill, instances.
        desired_capacity: i32,
    },
    /// The primary ALB security group's web ingress revoked ([`Method::Sg`]).
    Sg {
        /// The group's region (the primary's).
        region: String,
        /// The group id (`sg-…`).
        group_id: String,
        /// The rules the drill revokes (exactly these are re-authorized).
        ingress: Vec<IngressRule>,
    },
    /// The primary Route53 health check inverted ([`Method::HealthCheck`]).
    HealthCheck {
        /// The health check id (Route53 ids are global).
        health_check_id: String,
        /// Its `Inverted` setting before the drill (normally false).
        inverted: bool,
    },
}

/// A marker written to a primary store to measure its replication lag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "store", rename_all = "lowercase", deny_unknown_fields)]
pub enum Canary {
    /// An item of the global table, read back in the secondary region.
    Dynamodb {
        /// The table's primary region, where the canary item is written.
        region: String,
        /// The region the item is read back from.
        replica_region: String,
        /// The table name (the same in both regions).
        table: String,
        /// The canary item's partition key value (`drctl-drill-<drill id>`).
        key: String,
    },
    /// An object of the primary bucket, read back from the replica bucket.
    S3 {
        /// The primary bucket's region, where the canary object is written.
        region: String,
        /// The primary bucket's name.
        bucket: String,
        /// The replica bucket's region.
        replica_region: String,
        /// The replica bucket's name, where the object is read back.
        replica_bucket: String,
        /// The canary object's key.
        key: String,
    },
}

impl Canary {
    /// The store's name as the report keys RPOs: `dynamodb` or `s3`.
    pub fn store(&self) -> &'static str {
        match self {
            Canary::Dynamodb { .. } => "dynamodb",
            Canary::S3 { .. } => "s3",
        }
    }
}

/// A drill in progress, kept in the state (`drill`) until failback is done.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillJournal {
    /// Random 12 hex characters naming this drill's canaries.
    pub id: String,
    /// How the primary's failure is simulated.
    pub method: Method,
    /// When the drill started, RFC 3339 UTC with milliseconds.
    pub started_at: String,
    /// Written before the canaries are.
    #[serde(default)]
    pub canaries: Vec<Canary>,
    /// Written before the injection; `None` until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub injection: Option<Injection>,
}
