//! Which physical resources a drill touches, read from the state at the
//! addresses the blueprint exports ([`blueprint::region_outputs`],
//! [`blueprint::zone_address`], [`blueprint::alb_security_group_address`]),
//! so that an address is spelt once, in the blueprint.

use drctl_core::drill::DrillError;
use drctl_core::model::Address;
use drctl_core::state::State;
use drctl_stack::blueprint::{self, Role};
use drctl_stack::envplan::{Dns, EnvPlan};

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
    /// The drill's resources for `plan`, from `state`. The zone is the
    /// plan's existing one (`hosted_zone_id`), or the one drctl made. Errors
    /// name the first address missing from the state.
    pub fn from_state(state: &State, plan: &EnvPlan) -> Result<Self, DrillError> {
        let get = |addr: &Address, attr: &str| -> Result<String, DrillError> {
            let r = state.resources.get(addr).ok_or_else(|| {
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
        // An output of `role`'s region, as `drctl output` reads it.
        let output = |role: Role, key: &str| -> Result<String, DrillError> {
            let o = blueprint::region_outputs(plan, role)
                .into_iter()
                .find(|o| o.key == key)
                .ok_or_else(|| {
                    DrillError::Cloud(format!("internal error: the blueprint has no output {key}"))
                })?;
            get(&o.address, o.attr)
        };
        use Role::{Primary, Secondary};
        let zone_id = match &plan.dns {
            Dns::ExistingZone(z) => z.clone(),
            Dns::CreateZone => get(&blueprint::zone_address(), "id")?,
        };
        Ok(Topology {
            primary: plan.primary_region.clone(),
            secondary: plan.secondary_region.clone(),
            zone_id: zone_id.trim_start_matches("/hostedzone/").to_string(),
            domain: plan.domain_name.trim_end_matches('.').to_string(),
            primary_check: output(Primary, "health_check_id")?,
            secondary_check: output(Secondary, "health_check_id")?,
            primary_alb_dns: output(Primary, "alb_dns_name")?,
            secondary_alb_dns: output(Secondary, "alb_dns_name")?,
            secondary_tg: output(Secondary, "target_group_arn")?,
            primary_asg: output(Primary, "asg_name")?,
            secondary_asg: output(Secondary, "asg_name")?,
            primary_alb_sg: get(&blueprint::alb_security_group_address(plan, Primary), "id")?,
            table: output(Primary, "table_name")?,
            bucket: output(Primary, "bucket_name")?,
            replica_bucket: output(Secondary, "bucket_name")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use drctl_core::state::ResourceState;
    use serde_json::json;
    use std::path::Path;

    fn dev() -> EnvPlan {
        drctl_stack::envplan::load(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plans"),
            "dev",
        )
        .unwrap()
    }

    /// Every blueprint resource recorded with id `id:ADDR` and attrs that
    /// name the address, as an applied env's state would.
    fn applied(plan: &EnvPlan) -> State {
        let mut state = State::new(&plan.env);
        for s in blueprint::build(plan, Some("123456789012")) {
            let a = s.address.to_string();
            state.resources.insert(
                s.address.clone(),
                ResourceState {
                    kind: s.kind.clone(),
                    region: s.region.clone(),
                    name: s.name.clone(),
                    id: format!("id:{a}"),
                    attrs: drctl_core::model::Props::from_iter([
                        ("name".to_string(), json!(format!("name:{a}"))),
                        ("dns_name".to_string(), json!(format!("dns:{a}"))),
                    ]),
                    applied: Default::default(),
                    dependencies: vec![],
                },
            );
        }
        state
    }

    #[test]
    fn the_drill_reads_the_addresses_the_blueprint_builds() {
        let plan = dev();
        let t = Topology::from_state(&applied(&plan), &plan).unwrap();
        let (p, s) = (&plan.primary_region, &plan.secondary_region);
        assert_eq!(t.primary_alb_dns, format!("dns:{p}/compute/alb"));
        assert_eq!(t.secondary_alb_dns, format!("dns:{s}/compute/alb"));
        assert_eq!(t.secondary_tg, format!("id:{s}/compute/tg"));
        assert_eq!(t.primary_asg, format!("name:{p}/compute/asg"));
        assert_eq!(t.secondary_asg, format!("name:{s}/compute/asg"));
        assert_eq!(t.primary_alb_sg, format!("id:{p}/security/alb-sg"));
        assert_eq!(t.table, format!("name:{p}/dynamodb/sessions-table"));
        assert_eq!(t.bucket, format!("name:{p}/storage/data-bucket"));
        assert_eq!(t.replica_bucket, format!("name:{s}/storage/replica-bucket"));
        assert_eq!(t.primary_check, "id:global/route53/health-check-primary");
        assert_eq!(
            t.secondary_check,
            "id:global/route53/health-check-secondary"
        );
        if plan.dns == Dns::CreateZone {
            assert_eq!(t.zone_id, "id:global/route53/zone");
        }
    }

    #[test]
    fn a_missing_resource_is_named() {
        let plan = dev();
        let mut state = applied(&plan);
        let sg = blueprint::alb_security_group_address(&plan, Role::Primary);
        state.resources.remove(&sg);
        let err = Topology::from_state(&state, &plan).unwrap_err().to_string();
        assert!(err.contains(&format!("{sg} is not in the state")), "{err}");
    }
}
