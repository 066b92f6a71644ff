//! `ec2:vpc` — the VPC of one region.
//!
//! Found by id, else by ownership tags (EC2 VPC names are not unique).

use crate::ec2::lookup::{create_unless_found, one_attempt, read_owned, Owned};
use crate::ec2::{VPC_AVAILABLE, VPC_DELETE};
use crate::retry::{call, delete_when_unblocked, Policy};
use crate::tags::ec2_tag_spec;
use crate::{props, Aws};
use async_trait::async_trait;
use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType, Vpc, VpcState};
use drctl_core::diff::FieldChange;
use drctl_core::model::{Observed, ReadOutcome, ResourceSpec};
use drctl_core::reconcile::{Ctx, ReconcileError, Reconciler};
use serde::{Deserialize, Serialize};

/// What `ec2:vpc` compares: the blueprint's props and what a read reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VpcProps {
    /// The primary IPv4 block, e.g. `10.0.0.0/16` (the plan's `*_vpc_cidr`). Replaces.
    pub cidr_block: String,
    /// Whether the Amazon-provided DNS server answers in the VPC. In place.
    pub enable_dns_support: bool,
    /// Whether instances get public DNS hostnames. In place.
    pub enable_dns_hostnames: bool,
}

/// Fields whose change replaces the VPC, with the reason shown in the plan.
const REPLACE_ON: &[(&str, &str)] = &[("cidr_block", "a VPC's primary CIDR block cannot change")];

/// A created VPC's id, and whether it is `available` already (then
/// `wait_ready` makes no call).
fn id_and_ready(v: &Vpc) -> Option<(String, bool)> {
    Some((
        v.vpc_id()?.to_string(),
        v.state() == Some(&VpcState::Available),
    ))
}

pub struct VpcReconciler {
    pub aws: Aws,
}

impl VpcReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

impl VpcReconciler {
    /// DNS attributes need one call each; only made for a VPC we own.
    async fn observe(&self, region: &str, vpc: &Vpc) -> Result<Observed, ReconcileError> {
        let ec2 = self.aws.ec2(region);
        let id = vpc.vpc_id().unwrap_or_default();
        let attr = |a: aws_sdk_ec2::types::VpcAttributeName| {
            let ec2 = ec2.clone();
            async move {
                let out = call("ec2:DescribeVpcAttribute", Policy::ONCE, || {
                    ec2.describe_vpc_attribute()
                        .vpc_id(id)
                        .attribute(a.clone())
                        .send()
                })
                .await?;
                Ok::<_, ReconcileError>(out)
            }
        };
        let (support, hostnames) = tokio::try_join!(
            attr(aws_sdk_ec2::types::VpcAttributeName::EnableDnsSupport),
            attr(aws_sdk_ec2::types::VpcAttributeName::EnableDnsHostnames)
        )?;
        let flag = |v: Option<&AttributeBooleanValue>| v.and_then(|b| b.value()).unwrap_or(false);
        Ok(Observed {
            id: id.to_string(),
            props: props::to_props(&VpcProps {
                cidr_block: vpc.cidr_block().unwrap_or_default().to_string(),
                enable_dns_support: flag(support.enable_dns_support()),
                enable_dns_hostnames: flag(hostnames.enable_dns_hostnames()),
            }),
            attrs: Default::default(),
        })
    }

    async fn set_dns(&self, region: &str, id: &str, p: &VpcProps) -> Result<(), ReconcileError> {
        let ec2 = self.aws.ec2(region);
        // One attribute per call: the API refuses both at once.
        for (support, value) in [
            (true, p.enable_dns_support),
            (false, p.enable_dns_hostnames),
        ] {
            let v = AttributeBooleanValue::builder().value(value).build();
            let req = ec2.modify_vpc_attribute().vpc_id(id);
            let req = if support {
                req.enable_dns_support(v)
            } else {
                req.enable_dns_hostnames(v)
            };
            call("ec2:ModifyVpcAttribute", Policy::TRANSIENT, || {
                req.clone().send()
            })
            .await?;
        }
        Ok(())
    }
}

#[async_trait]
impl Reconciler for VpcReconciler {
    fn kind(&self) -> &'static str {
        drctl_stack::kinds::VPC
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
        match read_owned::<Vpc>(&self.aws, cx, spec, known_id).await? {
            Owned::Mine(vpc) => Ok(ReadOutcome::Found(crate::tags::with_tags(
                self.observe(region, &vpc).await?,
                &crate::tags::from_ec2(vpc.tags()),
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
        let p: VpcProps = props::typed(spec)?;
        let region = self.aws.region_of(spec);
        let ec2 = self.aws.ec2(region);
        // CreateVpc takes no client token: an unanswered attempt is followed
        // by the ownership-tag lookup, which is why the tags go in this call.
        let req = ec2
            .create_vpc()
            .cidr_block(&p.cidr_block)
            .tag_specifications(ec2_tag_spec(ResourceType::Vpc, spec));
        let id = create_unless_found::<Vpc, _, _, _>(
            &self.aws,
            cx,
            spec,
            "ec2:CreateVpc",
            || async {
                let out = call("ec2:CreateVpc", Policy::ONCE, || {
                    req.clone()
                        .customize()
                        .config_override(one_attempt())
                        .send()
                })
                .await?;
                out.vpc()
                    .and_then(id_and_ready)
                    .ok_or_else(|| ReconcileError::Internal("CreateVpc returned no VPC".into()))
            },
            |vpc| Ok(id_and_ready(&vpc).unwrap_or_default()),
        )
        .await?;
        let (id, ready) = id;
        if ready {
            self.aws.note_ready_at_create(&id);
        }
        self.set_dns(region, &id, &p).await?;
        Ok(Observed {
            id,
            props: spec.props.clone(),
            attrs: Default::default(),
        })
    }

    async fn wait_ready(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        created: Observed,
    ) -> Result<Observed, ReconcileError> {
        let available = |v: &Vpc| v.state() == Some(&VpcState::Available);
        crate::ec2::wait_available(&self.aws, spec, created, "VPC", VPC_AVAILABLE, available).await
    }

    async fn update(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
        _changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        let p: VpcProps = props::typed(spec)?;
        self.set_dns(self.aws.region_of(spec), &current.id, &p)
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
        // Dependencies (ENIs of the ALB, NAT) vanish asynchronously.
        let what = format!(
            "VPC {} ({}) to be deletable (DependencyViolation)",
            current.id, spec.address
        );
        delete_when_unblocked(&what, VPC_DELETE, || {
            call("ec2:DeleteVpc", Policy::ONCE, || {
                ec2.delete_vpc().vpc_id(&current.id).send()
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_blueprint_props_fit_the_struct() {
        let all = crate::testing::assert_blueprint_props::<VpcProps>(drctl_stack::kinds::VPC);
        assert!(all
            .iter()
            .all(|p| p.enable_dns_support && p.enable_dns_hostnames));
        for (field, _) in REPLACE_ON {
            assert!(
                serde_json::to_value(&all[0]).unwrap().get(field).is_some(),
                "{field}"
            );
        }
    }
}
