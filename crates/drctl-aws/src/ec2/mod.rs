//! EC2: the network (VPC, subnets, gateways, routes, security groups) and
//! launch templates, one file per kind.
//!
//! Shared here: [`lookup`] (one describe per region and type, shared through
//! the run's read cache), [`eni_blockers`] (subnets and security groups are blocked by network
//! interfaces that AWS removes asynchronously: the timeout names them) and
//! every EC2 wait, a named [`Wait`].

pub mod eip;
pub mod igw_attachment;
pub mod internet_gateway;
pub mod launch_template;
pub(crate) mod lookup;
pub mod nat_gateway;
pub mod route_table;
pub mod route_table_association;
pub mod security_group;
pub mod subnet;
pub mod vpc;

use crate::retry::{call, Policy, Wait};
use aws_sdk_ec2::types::Filter;
use drctl_core::reconcile::ReconcileError;

/// The ids (and descriptions) of the network interfaces `filter` selects:
/// what keeps a subnet or security group from being deleted.
pub(crate) async fn network_interfaces(
    ec2: &aws_sdk_ec2::Client,
    filter: Filter,
) -> Result<Vec<String>, ReconcileError> {
    let out = call("ec2:DescribeNetworkInterfaces", Policy::ONCE, || {
        ec2.describe_network_interfaces()
            .filters(filter.clone())
            .send()
    })
    .await?;
    Ok(out
        .network_interfaces()
        .iter()
        .filter_map(|n| {
            let id = n.network_interface_id()?;
            Some(match n.description().filter(|d| !d.is_empty()) {
                Some(d) => format!("{id} ({d})"),
                None => id.to_string(),
            })
        })
        .collect())
}

/// The "who blocks" probe of a subnet or security group delete
/// ([`crate::retry::delete_when_unblocked_or_name`]): the network
/// interfaces `filter` selects, for the timeout message. Best effort: a
/// failed listing names nothing.
pub(crate) async fn eni_blockers(ec2: &aws_sdk_ec2::Client, filter: Filter) -> Option<String> {
    let ids = network_interfaces(ec2, filter).await.unwrap_or_default();
    (!ids.is_empty()).then(|| format!("still used by network interface(s) {}", ids.join(", ")))
}

// Waits (timeout, steady poll interval). EC2 creates answer in seconds and
// the emulator at once; the long ones are deletes blocked by what AWS
// removes asynchronously.

/// A new VPC turns `available` within seconds (AWS VPC user guide); 5 min
/// (drctl's figure), polled every 2 s.
pub(crate) const VPC_AVAILABLE: Wait = Wait::secs(300, 2);
/// DeleteVpc waits out the ENIs of a deleted ALB or NAT gateway, which AWS
/// removes minutes after their owner; 10 min (drctl's figure), every 5 s.
pub(crate) const VPC_DELETE: Wait = Wait::secs(600, 5);
/// A new subnet turns `available` within seconds; as [`VPC_AVAILABLE`].
pub(crate) const SUBNET_AVAILABLE: Wait = Wait::secs(300, 2);
/// DeleteSubnet waits for ENIs (ALB, NAT, instances) to leave: 20 min, the
/// default delete timeout of terraform-provider-aws `aws_subnet`
/// (internal/service/ec2/vpc_subnet.go, `Timeouts`).
pub(crate) const SUBNET_DELETE: Wait = Wait::secs(1200, 5);
/// DeleteSecurityGroup waits for ENIs using the group: 20 min, as
/// [`SUBNET_DELETE`] (terraform-provider-aws `aws_security_group` allows 15:
/// internal/service/ec2/vpc_security_group.go, `Timeouts`).
pub(crate) const SECURITY_GROUP_DELETE: Wait = Wait::secs(1200, 5);
/// DeleteRouteTable waits while subnet associations are being removed:
/// 5 min (terraform-provider-aws `aws_route_table` delete default:
/// internal/service/ec2/vpc_route_table.go, `Timeouts`).
pub(crate) const ROUTE_TABLE_DELETE: Wait = Wait::secs(300, 5);
/// DeleteInternetGateway waits while it is still attached (the attachment
/// is deleted first, its detach may still run): 10 min (drctl's figure;
/// terraform-provider-aws `aws_internet_gateway` allows 20:
/// internal/service/ec2/vpc_internet_gateway.go, `Timeouts`).
pub(crate) const INTERNET_GATEWAY_DELETE: Wait = Wait::secs(600, 5);
/// DetachInternetGateway waits while public addresses are mapped (NAT
/// gateway, Elastic IPs, load balancer going away): 15 min (drctl's figure;
/// terraform-provider-aws `aws_internet_gateway_attachment` allows 20:
/// internal/service/ec2/vpc_internet_gateway_attachment.go, `Timeouts`).
pub(crate) const INTERNET_GATEWAY_DETACH: Wait = Wait::secs(900, 5);
/// ReleaseAddress waits while a NAT gateway being deleted still holds the
/// address: 5 min (terraform-provider-aws `aws_eip` delete default is 3:
/// internal/service/ec2/ec2_eip.go, `Timeouts`).
pub(crate) const EIP_RELEASE: Wait = Wait::secs(300, 5);
/// A NAT gateway takes 1-5 min to become `available`: 10 min, the
/// terraform-provider-aws `aws_nat_gateway` create default
/// (internal/service/ec2/vpc_nat_gateway.go, `Timeouts`).
pub(crate) const NAT_AVAILABLE: Wait = Wait::secs(600, 5);
/// A deleted NAT gateway reaches `deleted` within minutes: 10 min (drctl's
/// figure; terraform-provider-aws allows 30: the delete default in
/// internal/service/ec2/vpc_nat_gateway.go, `Timeouts`).
pub(crate) const NAT_DELETED: Wait = Wait::secs(600, 5);

/// `wait_ready` of a VPC or subnet: nothing when its create answer said
/// it is available already, else one describe by id (`Invalid*.NotFound`
/// just after the create counts as "not yet") until `available` holds, for
/// at most `wait`; the timeout names the `noun`, id and address.
pub(crate) async fn wait_available<T: lookup::Ec2Resource>(
    aws: &crate::Aws,
    spec: &drctl_core::model::ResourceSpec,
    created: drctl_core::model::Observed,
    noun: &str,
    wait: Wait,
    available: fn(&T) -> bool,
) -> Result<drctl_core::model::Observed, ReconcileError> {
    if aws.take_ready_at_create(&created.id) {
        return Ok(created);
    }
    let ec2 = aws.ec2(aws.region_of(spec));
    let what = format!(
        "{noun} {} ({}) to become available",
        created.id, spec.address
    );
    crate::retry::wait_for(&what, wait, || async {
        let ids = Some(vec![created.id.clone()]);
        let found = crate::errors::found(T::describe(ec2.clone(), ids, None).await)?;
        Ok(found
            .unwrap_or_default()
            .first()
            .filter(|r| available(r))
            .map(|_| ()))
    })
    .await?;
    Ok(created)
}

pub(crate) fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

/// Test helpers the service's reconcilers share.
#[cfg(test)]
pub(crate) mod testing {
    use crate::props;
    use aws_sdk_ec2::Client;
    use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode};
    use drctl_core::model::Address;
    use drctl_core::model::ResourceSpec;

    /// An EC2 client answered only by `rules` (no network, no SDK retries).
    pub(crate) fn mock_ec2(mode: RuleMode, rules: &[&Rule]) -> Client {
        let mut interceptor = MockResponseInterceptor::new().rule_mode(mode);
        for r in rules {
            interceptor = interceptor.with_rule(r);
        }
        let conf = aws_sdk_ec2::Config::builder()
            .behavior_version(aws_sdk_ec2::config::BehaviorVersion::latest())
            .region(aws_sdk_ec2::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_ec2::config::Credentials::new(
                "test", "test", None, None, "mock",
            ))
            .http_client(aws_smithy_mocks::create_mock_http_client())
            .retry_config(aws_sdk_ec2::config::retry::RetryConfig::disabled())
            .interceptor(interceptor)
            .build();
        Client::from_conf(conf)
    }

    pub(crate) fn spec(kind: &str, props: serde_json::Value) -> ResourceSpec {
        ResourceSpec {
            address: Address::new("us-east-1/network/x"),
            kind: kind.into(),
            region: Some("us-east-1".into()),
            name: "trading-x-dev".into(),
            props: props::from_json(props),
            tags: [("drctl:env".to_string(), "dev".to_string())]
                .into_iter()
                .collect(),
            depends_on: vec![],
        }
    }
}
