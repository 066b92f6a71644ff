//! `ec2:igw-attachment` — the internet gateway attached to the VPC.
//!
//! An attachment cannot be tagged. Physical id: `"<igw-id>:<vpc-id>"`.
//! Read: DescribeInternetGateways of the gateway (from the id, else from
//! the props); found when its `Attachments` contain the VPC. Ownership: the
//! gateway carries this env's `drctl:env` tag (its address tag is the
//! gateway's own address, so only the env is checked); an attachment of a
//! gateway that is not ours is a clash. Props: [`IgwAttachmentProps`].
//!
//! Delete: DetachInternetGateway. AWS refuses it with `DependencyViolation`
//! "has some mapped public address(es)" while a NAT gateway, EIP or ALB
//! still maps a public address in the VPC (terraform#1303); delete waits
//! that out, with a timeout that says so. `Gateway.NotAttached` and a
//! missing gateway mean it is already gone.

use crate::ec2::lookup::with_id;
use crate::ec2::INTERNET_GATEWAY_DETACH;
use crate::retry::{call, delete_when_unblocked, Policy, Wait};
use crate::tags::from_ec2;
use crate::{props, Aws};
use async_trait::async_trait;
use aws_sdk_ec2::types::AttachmentStatus;
use drctl_core::diff::FieldChange;
use drctl_core::model::{Observed, ReadOutcome, ResourceSpec, TAG_ENV};
use drctl_core::reconcile::{Ctx, ReconcileError, Reconciler};
use serde::{Deserialize, Serialize};

/// What `ec2:igw-attachment` compares: which gateway is attached to which VPC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IgwAttachmentProps {
    /// The gateway's id (`igw-…`). Replaces: detach, attach again.
    pub internet_gateway_id: String,
    /// The VPC's id (`vpc-…`). Replaces: detach, attach again.
    pub vpc_id: String,
}

/// Fields whose change replaces the attachment, with the reason shown in the plan.
const REPLACE_ON: &[(&str, &str)] = &[
    (
        "internet_gateway_id",
        "another gateway: detach this one, attach that one",
    ),
    ("vpc_id", "another VPC: detach the gateway, attach it there"),
];

pub struct IgwAttachmentReconciler {
    pub aws: Aws,
}

impl IgwAttachmentReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

fn physical_id(igw: &str, vpc: &str) -> String {
    format!("{igw}:{vpc}")
}

fn parse_id(id: &str) -> Result<(&str, &str), ReconcileError> {
    id.split_once(':')
        .filter(|(i, v)| !i.is_empty() && !v.is_empty())
        .ok_or_else(|| {
            ReconcileError::Internal(format!(
                "'{id}' is not an internet gateway attachment id (igw-…:vpc-…)"
            ))
        })
}

fn observed(igw: &str, vpc: &str) -> Observed {
    Observed {
        id: physical_id(igw, vpc),
        props: props::to_props(&IgwAttachmentProps {
            internet_gateway_id: igw.to_string(),
            vpc_id: vpc.to_string(),
        }),
        attrs: Default::default(),
    }
}

/// `(gateway, vpc)` of the props, when both are known.
fn from_props(spec: &ResourceSpec) -> Option<(&str, &str)> {
    let igw = spec.props.get("internet_gateway_id")?.as_str()?;
    let vpc = spec.props.get("vpc_id")?.as_str()?;
    Some((igw, vpc))
}

#[async_trait]
impl Reconciler for IgwAttachmentReconciler {
    fn kind(&self) -> &'static str {
        drctl_stack::kinds::IGW_ATTACHMENT
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
        let (igw_id, vpc_id) = match known_id {
            Some(id) => parse_id(id)?,
            None => match from_props(spec) {
                Some(ids) => ids,
                // The gateway or the VPC does not exist yet.
                None => return Ok(ReadOutcome::NotFound),
            },
        };
        let region = self.aws.region_of(spec);
        let Some(igw) =
            with_id::<aws_sdk_ec2::types::InternetGateway>(&self.aws, region, &cx.env, igw_id)
                .await?
        else {
            return Ok(ReadOutcome::NotFound);
        };
        let attached = igw.attachments().iter().any(|a| {
            a.vpc_id() == Some(vpc_id)
                && !matches!(
                    a.state(),
                    Some(AttachmentStatus::Detached | AttachmentStatus::Detaching)
                )
        });
        if !attached {
            return Ok(ReadOutcome::NotFound);
        }
        let tags = from_ec2(igw.tags());
        match tags.get(TAG_ENV) {
            Some(env) if env == &cx.env => Ok(ReadOutcome::Found(observed(igw_id, vpc_id))),
            other => Ok(ReadOutcome::Clash {
                id: physical_id(igw_id, vpc_id),
                detail: match other {
                    None => format!("internet gateway {igw_id} has no drctl:env tag"),
                    Some(e) => format!("internet gateway {igw_id} belongs to env '{e}'"),
                },
            }),
        }
    }

    async fn create(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        _token: &str,
    ) -> Result<Observed, ReconcileError> {
        let p: IgwAttachmentProps = props::typed(spec)?;
        let req = self
            .aws
            .ec2(self.aws.region_of(spec))
            .attach_internet_gateway()
            .internet_gateway_id(&p.internet_gateway_id)
            .vpc_id(&p.vpc_id);
        // No token: the read found no attachment. Resource.AlreadyAssociated
        // (the gateway is attached elsewhere) is shown as the error it is.
        call("ec2:AttachInternetGateway", Policy::AFTER_CREATE, || {
            req.clone().send()
        })
        .await?;
        Ok(observed(&p.internet_gateway_id, &p.vpc_id))
    }

    async fn update(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        _current: &Observed,
        _changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        // Both props force replacement, so the engine never asks this.
        Err(ReconcileError::Internal(format!(
            "{}: an internet gateway attachment cannot be updated in place",
            spec.address
        )))
    }

    async fn delete(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
    ) -> Result<(), ReconcileError> {
        let (igw, vpc) = parse_id(&current.id)?;
        let ec2 = self.aws.ec2(self.aws.region_of(spec));
        let what = format!(
            "internet gateway {igw} to detach from {vpc} ({}): AWS refuses while the VPC \
             has mapped public address(es) (NAT gateway, Elastic IPs, load balancer)",
            spec.address
        );
        detach(&ec2, igw, vpc, &what, INTERNET_GATEWAY_DETACH).await
    }
}

/// DetachInternetGateway, waiting while public addresses are still mapped.
async fn detach(
    ec2: &aws_sdk_ec2::Client,
    igw: &str,
    vpc: &str,
    what: &str,
    wait: Wait,
) -> Result<(), ReconcileError> {
    // Gateway.NotAttached and a missing gateway are both "gone".
    delete_when_unblocked(what, wait, || {
        call("ec2:DetachInternetGateway", Policy::ONCE, || {
            ec2.detach_internet_gateway()
                .internet_gateway_id(igw)
                .vpc_id(vpc)
                .send()
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ec2::testing::mock_ec2;
    use aws_sdk_ec2::operation::detach_internet_gateway::{
        DetachInternetGatewayError, DetachInternetGatewayOutput,
    };
    use aws_sdk_ec2::Client;
    use aws_smithy_mocks::{mock, RuleMode};
    use aws_smithy_types::error::ErrorMetadata;

    fn error(code: &str, message: &str) -> DetachInternetGatewayError {
        DetachInternetGatewayError::generic(
            ErrorMetadata::builder().code(code).message(message).build(),
        )
    }

    fn mapped() -> DetachInternetGatewayError {
        error(
            "DependencyViolation",
            "Network vpc-1 has some mapped public address(es). Please unmap those public address(es) before detaching the gateway.",
        )
    }

    #[tokio::test(start_paused = true)]
    async fn detach_waits_while_public_addresses_are_mapped() {
        let detach_rule = mock!(Client::detach_internet_gateway)
            .sequence()
            .error(mapped)
            .times(3)
            .output(|| DetachInternetGatewayOutput::builder().build())
            .build();
        let ec2 = mock_ec2(RuleMode::Sequential, &[&detach_rule]);
        detach(&ec2, "igw-1", "vpc-1", "igw", INTERNET_GATEWAY_DETACH)
            .await
            .unwrap();
        assert_eq!(detach_rule.num_calls(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn detach_timeout_says_why() {
        let detach_rule = mock!(Client::detach_internet_gateway)
            .sequence()
            .error(mapped)
            .repeatedly()
            .build();
        let ec2 = mock_ec2(RuleMode::Sequential, &[&detach_rule]);
        let what = "internet gateway igw-1 to detach from vpc-1 (x): AWS refuses while the VPC has mapped public address(es)";
        let err = detach(&ec2, "igw-1", "vpc-1", what, INTERNET_GATEWAY_DETACH)
            .await
            .unwrap_err();
        assert_eq!(
            err,
            ReconcileError::Timeout {
                what: what.into(),
                secs: 900
            }
        );
    }

    #[tokio::test]
    async fn not_attached_means_gone() {
        let detach_rule = mock!(Client::detach_internet_gateway)
            .then_error(|| error("Gateway.NotAttached", "igw-1 is not attached to vpc-1"));
        let ec2 = mock_ec2(RuleMode::Sequential, &[&detach_rule]);
        detach(&ec2, "igw-1", "vpc-1", "igw", INTERNET_GATEWAY_DETACH)
            .await
            .unwrap();
    }

    #[test]
    fn the_blueprint_props_fit_the_struct() {
        let all = crate::testing::assert_blueprint_props::<IgwAttachmentProps>(
            drctl_stack::kinds::IGW_ATTACHMENT,
        );
        assert!(all
            .iter()
            .all(|p| p.internet_gateway_id.ends_with("network/igw.id")
                && p.vpc_id.ends_with("network/vpc.id")));
        let fields = serde_json::to_value(&all[0]).unwrap();
        for (field, _) in REPLACE_ON {
            assert!(fields.get(field).is_some(), "{field}");
        }
        // What a read reports has the props' shape.
        assert_eq!(
            observed("igw-1", "vpc-2").props,
            props::from_json(
                serde_json::json!({"internet_gateway_id": "igw-1", "vpc_id": "vpc-2"})
            )
        );
    }

    #[test]
    fn the_physical_id_names_gateway_and_vpc() {
        assert_eq!(physical_id("igw-1", "vpc-2"), "igw-1:vpc-2");
        assert_eq!(parse_id("igw-1:vpc-2").unwrap(), ("igw-1", "vpc-2"));
        assert!(parse_id("igw-1").is_err());
        assert!(parse_id(":vpc-2").is_err());
    }
}
