//! Which physical resources a drill touches, read from the state by their
//! blueprint addresses (`{region}/compute/alb`, `global/route53/...`).

use drctl_core::drill::DrillError;
use drctl_core::model::Address;
use drctl_core::state::State;

/// Physical ids and names of everything the drill reads or changes.
#[derive(Clone, Debug, PartialEq)]
pub struct Topology {
    pub primary: String,
    pub secondary: String,
    /// Hosted zone id (bare, without `/hostedzone/`).
    pub zone_id: String,
    pub domain: String,
    pub primary_check: String,
    pub secondary_check: String,
    pub primary_alb_dns: String,
    pub secondary_alb_dns: String,
    pub secondary_tg: String,
    pub primary_asg: String,
    pub secondary_asg: String,
    pub primary_alb_sg: String,
    pub table: String,
    pub bucket: String,
    pub replica_bucket: String,
}

impl Topology {
    /// `zone_id`: the plan's existing zone, or `None` when drctl made it
    /// (then read from `global/route53/zone`). Errors name the first address
    /// missing from the state.
    pub fn from_state(
        state: &State,
        primary: &str,
        secondary: &str,
        zone_id: Option<&str>,
        domain: &str,
    ) -> Result<Self, DrillError> {
        let get = |addr: String, attr: &str| -> Result<String, DrillError> {
            let r = state
                .resources
                .get(&Address::new(addr.clone()))
                .ok_or_else(|| {
                    DrillError::Cloud(format!(
                        "{addr} is not in the state: apply the env before a drill (`drctl apply`)"
                    ))
                })?;
            Ok(match attr {
                "id" => r.id.clone(),
                "name" => r
                    .attrs
                    .get("name")
                    .and_then(|v| v.as_str())
                    .unwrap_or(&r.name)
                    .to_string(),
                a => r
                    .attrs
                    .get(a)
                    .and_then(|v| v.as_str())
                    .ok_or_else(|| {
                        DrillError::Cloud(format!(
                            "{addr} has no '{a}' in the state; run `drctl apply`"
                        ))
                    })?
                    .to_string(),
            })
        };
        let at = |region: &str, path: &str| format!("{region}/{path}");
        let zone_id = match zone_id {
            Some(z) => z.to_string(),
            None => get("global/route53/zone".into(), "id")?,
        };
        Ok(Topology {
            primary: primary.into(),
            secondary: secondary.into(),
            zone_id: zone_id.trim_start_matches("/hostedzone/").to_string(),
            domain: domain.trim_end_matches('.').to_string(),
            primary_check: get("global/route53/health-check-primary".into(), "id")?,
            secondary_check: get("global/route53/health-check-secondary".into(), "id")?,
            primary_alb_dns: get(at(primary, "compute/alb"), "dns_name")?,
            secondary_alb_dns: get(at(secondary, "compute/alb"), "dns_name")?,
            secondary_tg: get(at(secondary, "compute/tg"), "id")?,
            primary_asg: get(at(primary, "compute/asg"), "name")?,
            secondary_asg: get(at(secondary, "compute/asg"), "name")?,
            primary_alb_sg: get(at(primary, "security/alb-sg"), "id")?,
            table: get(at(primary, "dynamodb/sessions-table"), "name")?,
            bucket: get(at(primary, "storage/data-bucket"), "name")?,
            replica_bucket: get(at(secondary, "storage/replica-bucket"), "name")?,
        })
    }
}
