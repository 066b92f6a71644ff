//! `ec2:nat-gateway` — the one NAT gateway of a region, in public subnet 1.
//!
//! Found by id, else among the NATs of `subnet_id` by ownership tags, checked
//! here: the emulator ignores tag filters on DescribeNatGateways (it returns
//! every NAT), and NAT gateways have no unique name. NATs in state
//! `deleted`, `deleting` or `failed` are ignored (AWS lists deleted ones for
//! an hour). Props: [`NatGatewayProps`]. Attrs: `public_ip`.
//!
//! Create passes the idempotency token as `ClientToken` (AWS dedupes, the
//! emulator does not: the unit tests prove it is sent), then `wait_ready`
//! waits for `available`. Delete describes first (DeleteNatGateway of a
//! missing id answers HTTP 500 on the emulator), deletes, and waits for
//! `deleted`: the EIP and the IGW attachment can only go after that
//! (see the destroy rules in `drctl_stack::kinds`).

use crate::ec2::lookup::with_id;
use crate::ec2::{NAT_AVAILABLE, NAT_DELETED};
use crate::errors::found;
use crate::retry::{call, wait_for, Policy, Wait};
use crate::tags::{ambiguous, check_owned, ec2_tag_spec, from_ec2};
use crate::{props, Aws};
use async_trait::async_trait;
use aws_sdk_ec2::types::{ConnectivityType, Filter, NatGateway, NatGatewayState, ResourceType};
use drctl_core::diff::FieldChange;
use drctl_core::model::{owned_by, Observed, ReadOutcome, ResourceSpec};
use drctl_core::reconcile::{Ctx, ReconcileError, Reconciler};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// What `ec2:nat-gateway` compares; every field replaces (nothing about a
/// NAT changes in place).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatGatewayProps {
    /// The public subnet it sits in (`subnet-…`). Replaces.
    pub subnet_id: String,
    /// The Elastic IP's allocation id (`eipalloc-…`). Replaces.
    pub allocation_id: String,
    /// `public` or `private` (CreateNatGateway `ConnectivityType`). Replaces.
    pub connectivity_type: String,
}

/// Fields whose change replaces the NAT, with the reason shown in the plan.
const REPLACE_ON: &[(&str, &str)] = &[
    ("subnet_id", "a NAT gateway cannot move to another subnet"),
    (
        "allocation_id",
        "a NAT gateway's primary Elastic IP cannot change",
    ),
    (
        "connectivity_type",
        "a NAT gateway's connectivity type cannot change",
    ),
];

pub struct NatGatewayReconciler {
    pub aws: Aws,
}

impl NatGatewayReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

/// A NAT that exists for our purposes (not on its way out, not failed).
fn live(n: &NatGateway) -> bool {
    !matches!(
        n.state(),
        Some(NatGatewayState::Deleted | NatGatewayState::Deleting | NatGatewayState::Failed)
    )
}

/// The NAT with this id; `None` when missing (the emulator answers an empty
/// list, AWS `NatGatewayNotFound`).
async fn describe_id(
    ec2: &aws_sdk_ec2::Client,
    id: &str,
) -> Result<Option<NatGateway>, ReconcileError> {
    let out = call("ec2:DescribeNatGateways", Policy::TRANSIENT, || {
        ec2.describe_nat_gateways().nat_gateway_ids(id).send()
    })
    .await;
    Ok(found(out)?.and_then(|o| o.nat_gateways().first().cloned()))
}

async fn describe_subnet(
    ec2: &aws_sdk_ec2::Client,
    subnet_id: &str,
) -> Result<Vec<NatGateway>, ReconcileError> {
    let req = ec2.describe_nat_gateways().filter(
        Filter::builder()
            .name("subnet-id")
            .values(subnet_id)
            .build(),
    );
    let out = call("ec2:DescribeNatGateways", Policy::TRANSIENT, || {
        req.clone().send()
    })
    .await?;
    Ok(out.nat_gateways().to_vec())
}

async fn create_nat(
    ec2: &aws_sdk_ec2::Client,
    spec: &ResourceSpec,
    token: &str,
) -> Result<NatGateway, ReconcileError> {
    let p: NatGatewayProps = props::typed(spec)?;
    let req = ec2
        .create_nat_gateway()
        .subnet_id(&p.subnet_id)
        .allocation_id(&p.allocation_id)
        .connectivity_type(ConnectivityType::from(p.connectivity_type.as_str()))
        // AWS returns the first NAT for a repeated token instead of a second.
        .client_token(token)
        .tag_specifications(ec2_tag_spec(ResourceType::Natgateway, spec));
    // The subnet and the EIP were created moments ago.
    let out = call("ec2:CreateNatGateway", Policy::AFTER_CREATE, || {
        req.clone().send()
    })
    .await?;
    out.nat_gateway()
        .cloned()
        .ok_or_else(|| ReconcileError::Internal("CreateNatGateway returned no NAT gateway".into()))
}

/// Polls until the NAT is `available`; a `failed` NAT is an error that
/// carries AWS's reason.
async fn wait_available(
    ec2: &aws_sdk_ec2::Client,
    id: &str,
    what: &str,
    wait: Wait,
) -> Result<NatGateway, ReconcileError> {
    wait_for(what, wait, || async {
        let Some(n) = describe_id(ec2, id).await? else {
            // Just created: a miss is eventual consistency.
            return Ok(None);
        };
        match n.state() {
            Some(NatGatewayState::Available) => Ok(Some(n)),
            Some(NatGatewayState::Pending) | None => Ok(None),
            Some(s) => Err(ReconcileError::Failed {
                what: format!("NAT gateway {id}"),
                state: s.as_str().to_string(),
                reason: format!(
                    "{} {}",
                    n.failure_code().unwrap_or(""),
                    n.failure_message().unwrap_or("")
                ),
            }),
        }
    })
    .await
}

/// Deletes the NAT if it still exists, then waits until AWS reports it
/// `deleted` (or no longer lists it).
async fn delete_nat(
    ec2: &aws_sdk_ec2::Client,
    id: &str,
    what: &str,
    wait: Wait,
) -> Result<(), ReconcileError> {
    // Describe first: DeleteNatGateway of a missing id is an HTTP 500 on the
    // emulator, which the SDK would retry as if it were transient.
    let Some(n) = describe_id(ec2, id).await? else {
        return Ok(());
    };
    match n.state() {
        Some(NatGatewayState::Deleted) => return Ok(()),
        Some(NatGatewayState::Deleting) => {}
        _ => {
            let r = call("ec2:DeleteNatGateway", Policy::ONCE, || {
                ec2.delete_nat_gateway().nat_gateway_id(id).send()
            })
            .await
            .map(|_| ());
            crate::errors::gone(r)?;
        }
    }
    wait_for(what, wait, || async {
        Ok(match describe_id(ec2, id).await? {
            None => Some(()),
            Some(n) if n.state() == Some(&NatGatewayState::Deleted) => Some(()),
            Some(_) => None,
        })
    })
    .await
}

fn observe(n: &NatGateway, spec: &ResourceSpec) -> Observed {
    let address = n.nat_gateway_addresses().first();
    let connectivity = match n.connectivity_type() {
        Some(ConnectivityType::Public) => json!("public"),
        Some(ConnectivityType::Private) => json!("private"),
        // The emulator answers "None" when the create call had no type;
        // AWS always reports one. Echo the desired value then.
        _ => spec
            .props
            .get("connectivity_type")
            .cloned()
            .unwrap_or(json!("public")),
    };
    // Not `NatGatewayProps`: an address AWS has not reported yet is null,
    // and `connectivity_type` may echo the (possibly unresolved) desired value.
    Observed {
        id: n.nat_gateway_id().unwrap_or_default().to_string(),
        props: props::from_json(json!({
            "subnet_id": n.subnet_id(),
            "allocation_id": address.and_then(|a| a.allocation_id()),
            "connectivity_type": connectivity,
        })),
        attrs: props::from_json(json!({
            "public_ip": address.and_then(|a| a.public_ip()),
        })),
    }
}

#[async_trait]
impl Reconciler for NatGatewayReconciler {
    fn kind(&self) -> &'static str {
        drctl_stack::kinds::NAT_GATEWAY
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
        let ec2 = self.aws.ec2(region);
        if let Some(id) = known_id {
            let nat = with_id::<NatGateway>(&self.aws, region, &cx.env, id).await?;
            return Ok(match nat.filter(live) {
                None => ReadOutcome::NotFound,
                Some(n) => check_owned(cx, spec, id, &from_ec2(n.tags()), || observe(&n, spec)),
            });
        }
        // Without an id: the NATs of the subnet, ownership checked here
        // (tag filters are ignored by the emulator). No subnet yet: no NAT.
        let Some(subnet_id) = spec.props.get("subnet_id").and_then(|v| v.as_str()) else {
            return Ok(ReadOutcome::NotFound);
        };
        let ours: Vec<NatGateway> = describe_subnet(&ec2, subnet_id)
            .await?
            .into_iter()
            .filter(live)
            .filter(|n| owned_by(&from_ec2(n.tags()), &cx.env, &spec.address))
            .collect();
        match ours.as_slice() {
            [] => Ok(ReadOutcome::NotFound),
            [n] => Ok(ReadOutcome::Found(observe(n, spec))),
            many => Err(ambiguous(spec, many, |n| {
                n.nat_gateway_id().map(str::to_string)
            })),
        }
    }

    async fn create(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        token: &str,
    ) -> Result<Observed, ReconcileError> {
        let ec2 = self.aws.ec2(self.aws.region_of(spec));
        let n = create_nat(&ec2, spec, token).await?;
        Ok(observe(&n, spec))
    }

    async fn wait_ready(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        created: Observed,
    ) -> Result<Observed, ReconcileError> {
        let ec2 = self.aws.ec2(self.aws.region_of(spec));
        let what = format!(
            "NAT gateway {} ({}) to become available",
            created.id, spec.address
        );
        let n = wait_available(&ec2, &created.id, &what, NAT_AVAILABLE).await?;
        Ok(observe(&n, spec))
    }

    async fn update(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        _current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        // Every prop forces replacement, so the engine never asks this.
        Err(ReconcileError::Internal(format!(
            "{}: a NAT gateway cannot be updated in place ({})",
            spec.address,
            changes
                .iter()
                .map(|c| c.field.as_str())
                .collect::<Vec<_>>()
                .join(", ")
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
            "NAT gateway {} ({}) to be deleted",
            current.id, spec.address
        );
        delete_nat(&ec2, &current.id, &what, NAT_DELETED).await
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ec2::testing::{mock_ec2, spec};
    use aws_sdk_ec2::operation::create_nat_gateway::CreateNatGatewayOutput;
    use aws_sdk_ec2::operation::delete_nat_gateway::DeleteNatGatewayOutput;
    use aws_sdk_ec2::operation::describe_nat_gateways::DescribeNatGatewaysOutput;
    use aws_sdk_ec2::Client;
    use aws_smithy_mocks::{mock, RuleMode};

    fn nat(state: NatGatewayState) -> DescribeNatGatewaysOutput {
        DescribeNatGatewaysOutput::builder()
            .nat_gateways(
                NatGateway::builder()
                    .nat_gateway_id("nat-1")
                    .subnet_id("subnet-1")
                    .state(state)
                    .build(),
            )
            .build()
    }

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn the_blueprint_props_fit_the_struct() {
        let all = crate::testing::assert_blueprint_props::<NatGatewayProps>(
            drctl_stack::kinds::NAT_GATEWAY,
        );
        assert!(all.iter().all(|p| p.connectivity_type == "public"
            && p.subnet_id.ends_with("network/public-subnet-1.id")
            && p.allocation_id.ends_with("network/nat-eip.id")));
        let fields = serde_json::to_value(&all[0]).unwrap();
        for (field, _) in REPLACE_ON {
            assert!(fields.get(field).is_some(), "{field}");
        }
    }

    #[tokio::test]
    async fn create_sends_the_token_and_the_tags() {
        let create = mock!(Client::create_nat_gateway)
            .match_requests(|r| {
                r.client_token() == Some(TOKEN)
                    && r.subnet_id() == Some("subnet-1")
                    && r.allocation_id() == Some("eipalloc-1")
                    && r.tag_specifications()
                        .first()
                        .is_some_and(|t| t.resource_type() == Some(&ResourceType::Natgateway))
            })
            .then_output(|| {
                CreateNatGatewayOutput::builder()
                    .client_token(TOKEN)
                    .nat_gateway(
                        NatGateway::builder()
                            .nat_gateway_id("nat-1")
                            .subnet_id("subnet-1")
                            .state(NatGatewayState::Pending)
                            .build(),
                    )
                    .build()
            });
        let ec2 = mock_ec2(RuleMode::Sequential, &[&create]);
        let s = spec(
            drctl_stack::kinds::NAT_GATEWAY,
            json!({"subnet_id": "subnet-1", "allocation_id": "eipalloc-1", "connectivity_type": "public"}),
        );
        let n = create_nat(&ec2, &s, TOKEN).await.unwrap();
        assert_eq!(n.nat_gateway_id(), Some("nat-1"));
        assert_eq!(create.num_calls(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn wait_ready_polls_until_available() {
        let describe = mock!(Client::describe_nat_gateways)
            .sequence()
            .output(|| nat(NatGatewayState::Pending))
            .times(2)
            .output(|| nat(NatGatewayState::Available))
            .build();
        let ec2 = mock_ec2(RuleMode::Sequential, &[&describe]);
        let n = wait_available(&ec2, "nat-1", "NAT nat-1", NAT_AVAILABLE)
            .await
            .unwrap();
        assert_eq!(n.state(), Some(&NatGatewayState::Available));
        assert_eq!(describe.num_calls(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn wait_ready_times_out_naming_the_nat() {
        let describe = mock!(Client::describe_nat_gateways)
            .sequence()
            .output(|| nat(NatGatewayState::Pending))
            .repeatedly()
            .build();
        let ec2 = mock_ec2(RuleMode::Sequential, &[&describe]);
        let err = wait_available(
            &ec2,
            "nat-1",
            "NAT gateway nat-1 (us-east-1/network/nat) to become available",
            NAT_AVAILABLE,
        )
        .await
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "timed out after 600s waiting for NAT gateway nat-1 (us-east-1/network/nat) to become available"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_nat_is_an_error_not_a_wait() {
        let describe = mock!(Client::describe_nat_gateways).then_output(|| {
            DescribeNatGatewaysOutput::builder()
                .nat_gateways(
                    NatGateway::builder()
                        .nat_gateway_id("nat-1")
                        .state(NatGatewayState::Failed)
                        .failure_code("Gateway.NotAttached")
                        .failure_message("Network vpc-1 has no Internet gateway attached")
                        .build(),
                )
                .build()
        });
        let ec2 = mock_ec2(RuleMode::MatchAny, &[&describe]);
        let err = wait_available(&ec2, "nat-1", "NAT", NAT_AVAILABLE)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ReconcileError::Failed { state, .. } if state == "failed"),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "NAT gateway nat-1 is failed instead of becoming available: Gateway.NotAttached Network vpc-1 has no Internet gateway attached"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn delete_waits_until_deleted() {
        let describe = mock!(Client::describe_nat_gateways)
            .sequence()
            .output(|| nat(NatGatewayState::Available))
            .output(|| nat(NatGatewayState::Deleting))
            .times(2)
            .output(|| nat(NatGatewayState::Deleted))
            .build();
        let delete = mock!(Client::delete_nat_gateway)
            .match_requests(|r| r.nat_gateway_id() == Some("nat-1"))
            .then_output(|| {
                DeleteNatGatewayOutput::builder()
                    .nat_gateway_id("nat-1")
                    .build()
            });
        let ec2 = mock_ec2(RuleMode::MatchAny, &[&describe, &delete]);
        delete_nat(&ec2, "nat-1", "NAT nat-1", NAT_DELETED)
            .await
            .unwrap();
        assert_eq!(delete.num_calls(), 1);
        assert_eq!(describe.num_calls(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn delete_times_out_naming_the_nat() {
        let describe = mock!(Client::describe_nat_gateways)
            .sequence()
            .output(|| nat(NatGatewayState::Deleting))
            .repeatedly()
            .build();
        let ec2 = mock_ec2(RuleMode::MatchAny, &[&describe]);
        let err = delete_nat(
            &ec2,
            "nat-1",
            "NAT gateway nat-1 (us-east-1/network/nat) to be deleted",
            NAT_DELETED,
        )
        .await
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "timed out after 600s waiting for NAT gateway nat-1 (us-east-1/network/nat) to be deleted"
        );
    }

    #[tokio::test]
    async fn delete_of_a_missing_nat_does_not_call_delete() {
        // No rule for DeleteNatGateway: calling it would fail the test.
        let describe = mock!(Client::describe_nat_gateways)
            .then_output(|| DescribeNatGatewaysOutput::builder().build());
        let ec2 = mock_ec2(RuleMode::MatchAny, &[&describe]);
        delete_nat(&ec2, "nat-1", "NAT nat-1", NAT_DELETED)
            .await
            .unwrap();
        assert_eq!(describe.num_calls(), 1);
    }
}
