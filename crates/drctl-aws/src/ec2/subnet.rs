//! `ec2:subnet` — one of the four subnets of a region.
//!
//! Found by id, else by ownership tags (a subnet's name is only a `Name`
//! tag, not unique). Props: [`SubnetProps`]. Attrs: `availability_zone`.
//!
//! Caveats: delete waits out `DependencyViolation` (the network interfaces
//! of an ALB, NAT or instances go away asynchronously) and the timeout names
//! the ENIs still in the subnet. The emulator deletes subnets that still
//! hold ENIs, so that wait only runs against AWS.

use crate::ec2::filter;
use crate::ec2::lookup::{create_unless_found, one_attempt, read_owned, Owned};
use crate::ec2::{eni_blockers, SUBNET_AVAILABLE, SUBNET_DELETE};
use crate::retry::{call, delete_when_unblocked_or_name, Policy, Wait};
use crate::tags::ec2_tag_spec;
use crate::{props, Aws};
use async_trait::async_trait;
use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType, Subnet, SubnetState};
use drctl_core::diff::FieldChange;
use drctl_core::model::{Observed, ReadOutcome, ResourceSpec};
use drctl_core::reconcile::{Ctx, ReconcileError, Reconciler};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// What `ec2:subnet` compares: the blueprint's props and what a read reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubnetProps {
    /// The VPC's id (`vpc-…`). Replaces: a subnet cannot move.
    pub vpc_id: String,
    /// The subnet's IPv4 block inside the VPC's, e.g. `10.0.1.0/24`. Replaces.
    pub cidr_block: String,
    /// N means the region's N-th availability zone (from 0): DescribeAvailabilityZones,
    /// state `available`, standard zones only, sorted by name; the observed value is the
    /// index of the subnet's zone in that list. Replaces.
    pub az_index: u32,
    /// Whether instances launched in it get a public IPv4 address. In place.
    pub map_public_ip_on_launch: bool,
}

/// Fields whose change replaces the subnet, with the reason shown in the plan.
const REPLACE_ON: &[(&str, &str)] = &[
    ("cidr_block", "a subnet's CIDR block cannot change"),
    (
        "az_index",
        "a subnet cannot move to another availability zone",
    ),
    ("vpc_id", "a subnet cannot move to another VPC"),
];

pub struct SubnetReconciler {
    pub aws: Aws,
}

impl SubnetReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

/// A created subnet's id, and whether it is `available` already (then
/// `wait_ready` makes no call).
fn id_and_ready(s: &Subnet) -> Option<(String, bool)> {
    let id = s.subnet_id()?.to_string();
    Some((id, s.state() == Some(&SubnetState::Available)))
}

/// The region's available standard zones, sorted by name.
pub(crate) async fn zone_names(ec2: &aws_sdk_ec2::Client) -> Result<Vec<String>, ReconcileError> {
    let out = call("ec2:DescribeAvailabilityZones", Policy::TRANSIENT, || {
        ec2.describe_availability_zones().send()
    })
    .await?;
    let mut names: Vec<String> = out
        .availability_zones()
        .iter()
        .filter(|z| z.state() == Some(&aws_sdk_ec2::types::AvailabilityZoneState::Available))
        // Local and Wavelength zones are not where a DR stack's subnets go.
        .filter(|z| z.zone_type().is_none_or(|t| t == "availability-zone"))
        .filter_map(|z| z.zone_name().map(str::to_string))
        .collect();
    names.sort();
    Ok(names)
}

impl SubnetReconciler {
    /// Read once per run: drctl's writes never change a region's zones.
    async fn zones(&self, region: &str) -> Result<Vec<String>, ReconcileError> {
        let ec2 = self.aws.ec2(region);
        self.aws
            .cache()
            .get_or_fetch_lasting(format!("ec2:DescribeAvailabilityZones|{region}"), || {
                zone_names(&ec2)
            })
            .await
    }

    async fn observe(&self, region: &str, subnet: &Subnet) -> Result<Observed, ReconcileError> {
        let id = subnet.subnet_id().unwrap_or_default();
        let az = subnet.availability_zone().ok_or_else(|| {
            ReconcileError::Internal(format!("DescribeSubnets returned {id} without a zone"))
        })?;
        let zones = self.zones(region).await?;
        // A zone outside the list (null) differs from any index: replacement.
        let az_index = zones
            .iter()
            .position(|z| z == az)
            .map_or(Value::Null, |i| json!(i));
        // Not `SubnetProps`: `az_index` is null for a zone outside the list.
        Ok(Observed {
            id: id.to_string(),
            props: props::from_json(json!({
                "vpc_id": subnet.vpc_id(),
                "cidr_block": subnet.cidr_block(),
                "az_index": az_index,
                "map_public_ip_on_launch": subnet.map_public_ip_on_launch().unwrap_or(false),
            })),
            attrs: props::from_json(json!({ "availability_zone": az })),
        })
    }

    async fn set_map_public_ip(
        &self,
        region: &str,
        id: &str,
        value: bool,
    ) -> Result<(), ReconcileError> {
        let req = self
            .aws
            .ec2(region)
            .modify_subnet_attribute()
            .subnet_id(id)
            .map_public_ip_on_launch(AttributeBooleanValue::builder().value(value).build());
        // Also right after CreateSubnet: the new id may not have propagated.
        call("ec2:ModifySubnetAttribute", Policy::AFTER_CREATE, || {
            req.clone().send()
        })
        .await?;
        Ok(())
    }
}

#[async_trait]
impl Reconciler for SubnetReconciler {
    fn kind(&self) -> &'static str {
        drctl_stack::kinds::SUBNET
    }

    /// Create-before-destroy when the subnet moves to a new VPC (its VPC is
    /// replaced): the Auto Scaling group's instances keep the old subnet
    /// busy (`DependencyViolation`) until the group has moved to the new
    /// one, and the new one cannot conflict with it. Destroy-before-create
    /// otherwise: a new subnet with the same CIDR block in the same VPC (a
    /// `-replace`, an AZ change) cannot exist beside the old one
    /// (CreateSubnet: `InvalidSubnet.Conflict`), so the old one goes first.
    fn create_before_destroy_for(&self, fields: &[FieldChange]) -> bool {
        fields
            .iter()
            .any(|f| f.field == "vpc_id" && f.replace_reason.is_some())
    }

    fn taggable(&self) -> bool {
        true
    }

    async fn write_tags(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
        writes: &drctl_core::diff::TagWrites,
    ) -> Result<(), ReconcileError> {
        crate::tags::ec2_write(&self.aws, spec, &current.id, writes).await
    }

    fn replace_on(&self) -> &'static [(&'static str, &'static str)] {
        REPLACE_ON
    }

    async fn read(
        &self,
        cx: &Ctx,
        spec: &ResourceSpec,
        known_id: Option<&str>,
    ) -> Result<ReadOutcome, ReconcileError> {
        let region = self.aws.region_of(spec);
        match read_owned::<Subnet>(&self.aws, cx, spec, known_id).await? {
            Owned::Mine(subnet) => Ok(ReadOutcome::Found(crate::tags::with_tags(
                self.observe(region, &subnet).await?,
                &crate::tags::from_ec2(subnet.tags()),
            ))),
            Owned::Not(outcome) => Ok(outcome),
        }
    }

    async fn create(
        &self,
        cx: &Ctx,
        spec: &ResourceSpec,
        _token: &str,
    ) -> Result<Observed, ReconcileError> {
        let p: SubnetProps = props::typed(spec)?;
        let region = self.aws.region_of(spec);
        let index = p.az_index;
        let zones = self.zones(region).await?;
        let az = usize::try_from(index)
            .ok()
            .and_then(|i| zones.get(i))
            .ok_or_else(|| {
                props::config(
                    spec,
                    "az_index",
                    format!(
                        "az_index {index} but {region} has {} available zone(s)",
                        zones.len()
                    ),
                )
            })?;
        // CreateSubnet takes no client token: an unanswered attempt is
        // followed by the ownership-tag lookup, which is why the tags go in
        // this call.
        let req = self
            .aws
            .ec2(region)
            .create_subnet()
            .vpc_id(&p.vpc_id)
            .cidr_block(&p.cidr_block)
            .availability_zone(az)
            .tag_specifications(ec2_tag_spec(ResourceType::Subnet, spec));
        let id = Policy::AFTER_CREATE
            .run("ec2:CreateSubnet", || {
                create_unless_found::<Subnet, _, _, _>(
                    &self.aws,
                    cx,
                    spec,
                    "ec2:CreateSubnet",
                    || async {
                        let out = call("ec2:CreateSubnet", Policy::ONCE, || {
                            req.clone()
                                .customize()
                                .config_override(one_attempt())
                                .send()
                        })
                        .await?;
                        out.subnet().and_then(id_and_ready).ok_or_else(|| {
                            ReconcileError::Internal("CreateSubnet returned no subnet id".into())
                        })
                    },
                    |s| Ok(id_and_ready(&s).unwrap_or_default()),
                )
            })
            .await?;
        let (id, ready) = id;
        if ready {
            self.aws.note_ready_at_create(&id);
        }
        // CreateSubnet cannot set it; false is the default, so no call then.
        if p.map_public_ip_on_launch {
            self.set_map_public_ip(region, &id, true).await?;
        }
        Ok(Observed {
            id,
            props: spec.props.clone(),
            attrs: props::from_json(json!({ "availability_zone": az })),
        })
    }

    async fn wait_ready(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        created: Observed,
    ) -> Result<Observed, ReconcileError> {
        let available = |s: &Subnet| s.state() == Some(&SubnetState::Available);
        crate::ec2::wait_available(
            &self.aws,
            spec,
            created,
            "subnet",
            SUBNET_AVAILABLE,
            available,
        )
        .await
    }

    async fn update(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
        _changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        // Only map_public_ip_on_launch can change in place.
        let p: SubnetProps = props::typed(spec)?;
        self.set_map_public_ip(
            self.aws.region_of(spec),
            &current.id,
            p.map_public_ip_on_launch,
        )
        .await?;
        Ok(current.updated_to(spec))
    }

    async fn delete(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
    ) -> Result<(), ReconcileError> {
        let ec2 = self.aws.ec2(self.aws.region_of(spec));
        let what = format!(
            "subnet {} ({}) to be deletable (DependencyViolation)",
            current.id, spec.address
        );
        delete_subnet(&ec2, &current.id, &what, SUBNET_DELETE).await
    }
}

/// DeleteSubnet, waiting while ENIs (ALB, NAT, instances) still sit in it.
async fn delete_subnet(
    ec2: &aws_sdk_ec2::Client,
    id: &str,
    what: &str,
    wait: Wait,
) -> Result<(), ReconcileError> {
    delete_when_unblocked_or_name(
        what,
        wait,
        || {
            call("ec2:DeleteSubnet", Policy::ONCE, || {
                ec2.delete_subnet().subnet_id(id).send()
            })
        },
        || eni_blockers(ec2, filter("subnet-id", id)),
    )
    .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_blueprint_props_fit_the_struct() {
        let all = crate::testing::assert_blueprint_props::<SubnetProps>(drctl_stack::kinds::SUBNET);
        // Two public and two private subnets per region, in zones 0 and 1.
        assert!(all
            .iter()
            .all(|p| p.az_index < 2 && !p.map_public_ip_on_launch));
        assert!(all.iter().any(|p| p.az_index == 1));
        let fields = serde_json::to_value(&all[0]).unwrap();
        for (field, _) in REPLACE_ON {
            assert!(fields.get(field).is_some(), "{field}");
        }
    }

    #[test]
    fn only_an_available_create_answer_skips_the_wait() {
        let made = |state| Subnet::builder().subnet_id("subnet-1").state(state).build();
        assert_eq!(
            id_and_ready(&made(SubnetState::Available)),
            Some(("subnet-1".to_string(), true))
        );
        assert_eq!(
            id_and_ready(&made(SubnetState::Pending)),
            Some(("subnet-1".to_string(), false))
        );
        assert_eq!(id_and_ready(&Subnet::builder().build()), None);
    }

    use super::*;
    use crate::ec2::testing::mock_ec2;
    use aws_sdk_ec2::operation::delete_subnet::{DeleteSubnetError, DeleteSubnetOutput};
    use aws_sdk_ec2::operation::describe_network_interfaces::DescribeNetworkInterfacesOutput;
    use aws_sdk_ec2::types::NetworkInterface;
    use aws_sdk_ec2::Client;
    use aws_smithy_mocks::{mock, RuleMode};
    use aws_smithy_types::error::ErrorMetadata;

    fn dependency_violation() -> DeleteSubnetError {
        DeleteSubnetError::generic(
            ErrorMetadata::builder()
                .code("DependencyViolation")
                .message("The subnet 'subnet-1' has dependencies and cannot be deleted.")
                .build(),
        )
    }

    fn eni_in_subnet() -> DescribeNetworkInterfacesOutput {
        DescribeNetworkInterfacesOutput::builder()
            .network_interfaces(
                NetworkInterface::builder()
                    .network_interface_id("eni-0abc")
                    .description("ELB app/trading-alb-dev/123")
                    .build(),
            )
            .build()
    }

    #[tokio::test(start_paused = true)]
    async fn delete_waits_out_dependency_violation() {
        let delete = mock!(Client::delete_subnet)
            .sequence()
            .error(dependency_violation)
            .times(2)
            .output(|| DeleteSubnetOutput::builder().build())
            .build();
        let enis = mock!(Client::describe_network_interfaces)
            .match_requests(|r| {
                r.filters().first().and_then(|f| f.name()) == Some("subnet-id")
                    && r.filters()[0].values() == ["subnet-1"]
            })
            .then_output(eni_in_subnet);
        let ec2 = mock_ec2(RuleMode::MatchAny, &[&delete, &enis]);
        delete_subnet(&ec2, "subnet-1", "subnet subnet-1", Wait::secs(600, 5))
            .await
            .unwrap();
        assert_eq!(delete.num_calls(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn delete_timeout_names_the_enis_still_in_the_subnet() {
        let delete = mock!(Client::delete_subnet)
            .sequence()
            .error(dependency_violation)
            .repeatedly()
            .build();
        let enis = mock!(Client::describe_network_interfaces).then_output(eni_in_subnet);
        let ec2 = mock_ec2(RuleMode::MatchAny, &[&delete, &enis]);
        let err = delete_subnet(
            &ec2,
            "subnet-1",
            "subnet subnet-1 to be deletable",
            Wait::secs(60, 5),
        )
        .await
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "timed out after 60s waiting for subnet subnet-1 to be deletable; \
             still used by network interface(s) eni-0abc (ELB app/trading-alb-dev/123)"
        );
    }

    #[tokio::test]
    async fn delete_of_a_missing_subnet_succeeds() {
        let delete = mock!(Client::delete_subnet).then_error(|| {
            DeleteSubnetError::generic(
                ErrorMetadata::builder()
                    .code("InvalidSubnetID.NotFound")
                    .build(),
            )
        });
        let ec2 = mock_ec2(RuleMode::MatchAny, &[&delete]);
        delete_subnet(&ec2, "subnet-1", "subnet", Wait::secs(60, 5))
            .await
            .unwrap();
    }
}
