//! EC2: the network (VPC, subnets, gateways, routes, security groups) and
//! launch templates, one file per kind.
//!
//! Shared here: [`lookup`] (one describe per region and type, shared through
//! the run's read cache), [`after_create`] (calls naming resources created
//! moments ago: EC2 answers `Invalid*.NotFound` until they propagate) and
//! [`delete_when_unblocked`] (subnets and security groups are blocked by
//! network interfaces that AWS removes asynchronously).

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

use crate::errors::{api_error, gone};
use crate::retry::{retry, wait_for, AFTER_CREATE};
use aws_sdk_ec2::types::Filter;
use drctl_core::reconcile::{ErrorClass, ReconcileError};
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

/// The ids (and descriptions) of the network interfaces `filter` selects:
/// what keeps a subnet or security group from being deleted.
pub(crate) async fn network_interfaces(
    ec2: &aws_sdk_ec2::Client,
    filter: Filter,
) -> Result<Vec<String>, ReconcileError> {
    let out = ec2
        .describe_network_interfaces()
        .filters(filter)
        .send()
        .await
        .map_err(|e| api_error("ec2:DescribeNetworkInterfaces", e))?;
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

/// Calls `delete` until AWS stops answering `DependencyViolation` (or the
/// thing is gone), for at most `timeout`. While blocked it lists the network
/// interfaces `enis` selects, so that the timeout names them.
pub(crate) async fn delete_when_unblocked<F, Fut>(
    ec2: &aws_sdk_ec2::Client,
    what: &str,
    enis: Filter,
    timeout: Duration,
    every: Duration,
    mut delete: F,
) -> Result<(), ReconcileError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), ReconcileError>>,
{
    let blockers: Mutex<Vec<String>> = Mutex::default();
    let result = wait_for(what, timeout, every, || {
        let attempt = delete();
        let (blockers, enis) = (&blockers, &enis);
        async move {
            match gone(attempt.await) {
                Ok(()) => Ok(Some(())),
                Err(e) if e.class() == ErrorClass::DependencyViolation => {
                    tracing::debug!(what, error = %e, "still in use");
                    // Best effort: the list only improves the timeout message.
                    let ids = network_interfaces(ec2, enis.clone())
                        .await
                        .unwrap_or_default();
                    if let Ok(mut b) = blockers.lock() {
                        *b = ids;
                    }
                    Ok(None)
                }
                Err(e) => Err(e),
            }
        }
    })
    .await;
    match result {
        Err(ReconcileError::Timeout { what, secs }) => {
            let ids = blockers.lock().map(|b| b.clone()).unwrap_or_default();
            let what = if ids.is_empty() {
                what
            } else {
                format!(
                    "{what}; still used by network interface(s) {}",
                    ids.join(", ")
                )
            };
            Err(ReconcileError::Timeout { what, secs })
        }
        other => other,
    }
}

/// Runs a call that names resources created moments ago (a fresh VPC,
/// gateway, subnet, group): EC2 answers `Invalid*.NotFound` until they have
/// propagated. Only not-found and throttling are retried, answers that mean
/// the call did nothing, so a create without a client token is never sent
/// twice after a call that may have gone through.
pub(crate) async fn after_create<T, F, Fut>(what: &str, op: F) -> Result<T, ReconcileError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ReconcileError>>,
{
    retry(
        what,
        AFTER_CREATE,
        &[ErrorClass::NotFound, ErrorClass::Throttled],
        op,
    )
    .await
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
