//! `ec2:eip` — the Elastic IP of the region's NAT gateway.
//!
//! Found by allocation id, else by ownership tags (an EIP's name is only a
//! `Name` tag). Props: [`EipProps`]. Attrs: `public_ip`. Physical id: the allocation id.
//!
//! Caveats: AllocateAddress takes no client token; the tags go in the call
//! (TagSpecifications) so that a crash is recovered by the tag lookup.
//! ReleaseAddress is refused while a NAT gateway still holds the address
//! (`InvalidIPAddress.InUse`, or `AuthFailure` while the NAT's service
//! still owns the association): delete retries that for a while. The NAT is
//! deleted and gone first (destroy rules).

use crate::ec2::lookup::{create_unless_found, one_attempt, read_owned};
use crate::ec2::EIP_RELEASE;
use crate::retry::{call, delete_when_unblocked, Policy, Wait};
use crate::tags::ec2_tag_spec;
use crate::{props, Aws};
use async_trait::async_trait;
use aws_sdk_ec2::types::{Address, DomainType, ResourceType};
use drctl_core::diff::FieldChange;
use drctl_core::model::{Observed, ReadOutcome, ResourceSpec};
use drctl_core::reconcile::{Ctx, ReconcileError, Reconciler};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// What `ec2:eip` compares: the blueprint's props and what a read reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EipProps {
    /// `vpc` (AllocateAddress `Domain`; EC2-Classic's `standard` is gone). Replaces.
    pub domain: String,
}

/// Fields whose change replaces the address, with the reason shown in the plan.
const REPLACE_ON: &[(&str, &str)] = &[("domain", "an Elastic IP's domain cannot change")];

pub struct EipReconciler {
    pub aws: Aws,
}

impl EipReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

fn observe(a: &Address) -> Observed {
    Observed {
        id: a.allocation_id().unwrap_or_default().to_string(),
        props: props::to_props(&EipProps {
            // EC2-Classic is gone: an address without a domain is a VPC one.
            domain: a.domain().map_or("vpc", |d| d.as_str()).to_string(),
        }),
        attrs: props::from_json(json!({ "public_ip": a.public_ip() })),
    }
}

#[async_trait]
impl Reconciler for EipReconciler {
    fn kind(&self) -> &'static str {
        drctl_stack::kinds::EIP
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
        Ok(read_owned::<Address>(&self.aws, cx, spec, known_id)
            .await?
            .observed(observe))
    }

    async fn create(
        &self,
        cx: &Ctx,
        spec: &ResourceSpec,
        _token: &str,
    ) -> Result<Observed, ReconcileError> {
        let p: EipProps = props::typed(spec)?;
        // No client token: an unanswered attempt is followed by the
        // ownership-tag lookup, which is why the tags go in this call.
        let req = self
            .aws
            .ec2(self.aws.region_of(spec))
            .allocate_address()
            .domain(DomainType::from(p.domain.as_str()))
            .tag_specifications(ec2_tag_spec(ResourceType::ElasticIp, spec));
        let observed = |id: Option<&str>, ip: Option<&str>| {
            let id = id.ok_or_else(|| {
                ReconcileError::Internal("AllocateAddress returned no allocation id".into())
            })?;
            Ok(Observed {
                id: id.to_string(),
                props: spec.props.clone(),
                attrs: props::from_json(json!({ "public_ip": ip })),
            })
        };
        create_unless_found::<Address, _, _, _>(
            &self.aws,
            cx,
            spec,
            "ec2:AllocateAddress",
            || async {
                let out = call("ec2:AllocateAddress", Policy::ONCE, || {
                    req.clone()
                        .customize()
                        .config_override(one_attempt())
                        .send()
                })
                .await?;
                observed(out.allocation_id(), out.public_ip())
            },
            |a| observed(a.allocation_id(), a.public_ip()),
        )
        .await
    }

    async fn update(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        _current: &Observed,
        _changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        // The only prop forces replacement, so the engine never asks this.
        Err(ReconcileError::Internal(format!(
            "{}: an Elastic IP cannot be updated in place",
            spec.address
        )))
    }

    async fn delete(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
    ) -> Result<(), ReconcileError> {
        let ec2 = self.aws.ec2(self.aws.region_of(spec));
        let what = format!(
            "Elastic IP {} ({}) to be released: it is still in use (a NAT gateway may still hold it)",
            current.id, spec.address
        );
        release(&ec2, &current.id, &what, EIP_RELEASE).await
    }
}

/// ReleaseAddress, retried while a NAT gateway still holds the address.
async fn release(
    ec2: &aws_sdk_ec2::Client,
    id: &str,
    what: &str,
    wait: Wait,
) -> Result<(), ReconcileError> {
    // InvalidIPAddress.InUse / AuthFailure: the table classes both as a
    // dependency still holding the address.
    delete_when_unblocked(what, wait, || {
        call("ec2:ReleaseAddress", Policy::ONCE, || {
            ec2.release_address().allocation_id(id).send()
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ec2::testing::mock_ec2;
    use aws_sdk_ec2::operation::release_address::{ReleaseAddressError, ReleaseAddressOutput};
    use aws_sdk_ec2::Client;
    use aws_smithy_mocks::{mock, RuleMode};
    use aws_smithy_types::error::ErrorMetadata;

    fn error(code: &'static str, message: &'static str) -> impl Fn() -> ReleaseAddressError {
        move || {
            ReleaseAddressError::generic(
                ErrorMetadata::builder().code(code).message(message).build(),
            )
        }
    }

    #[test]
    fn the_blueprint_props_fit_the_struct() {
        let all = crate::testing::assert_blueprint_props::<EipProps>(drctl_stack::kinds::EIP);
        assert!(all.iter().all(|p| p.domain == "vpc"));
        let fields = serde_json::to_value(&all[0]).unwrap();
        for (field, _) in REPLACE_ON {
            assert!(fields.get(field).is_some(), "{field}");
        }
        // A read without a domain reports the blueprint's value.
        let o = observe(&Address::builder().allocation_id("eipalloc-1").build());
        assert_eq!(o.props, props::to_props(&all[0]));
    }

    #[tokio::test(start_paused = true)]
    async fn release_waits_while_a_nat_holds_the_address() {
        let rule = mock!(Client::release_address)
            .sequence()
            .error(error("InvalidIPAddress.InUse", "Address is in use"))
            .error(error(
                "AuthFailure",
                "You do not have permission to access the specified resource.",
            ))
            .output(|| ReleaseAddressOutput::builder().build())
            .build();
        let ec2 = mock_ec2(RuleMode::Sequential, &[&rule]);
        release(&ec2, "eipalloc-1", "eip", EIP_RELEASE)
            .await
            .unwrap();
        assert_eq!(rule.num_calls(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn release_gives_up_naming_the_address() {
        let rule = mock!(Client::release_address)
            .sequence()
            .error(error("InvalidIPAddress.InUse", "Address is in use"))
            .repeatedly()
            .build();
        let ec2 = mock_ec2(RuleMode::Sequential, &[&rule]);
        let err = release(&ec2, "eipalloc-1", "Elastic IP eipalloc-1", EIP_RELEASE)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "timed out after 300s waiting for Elastic IP eipalloc-1"
        );
    }

    #[tokio::test]
    async fn release_of_a_missing_address_succeeds() {
        let rule = mock!(Client::release_address)
            .then_error(error("InvalidAllocationID.NotFound", "not found"));
        let ec2 = mock_ec2(RuleMode::Sequential, &[&rule]);
        release(&ec2, "eipalloc-1", "eip", EIP_RELEASE)
            .await
            .unwrap();
    }
}
