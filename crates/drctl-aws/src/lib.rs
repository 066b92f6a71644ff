//! drctl's AWS reconcilers: one module per resource kind, each holding the
//! kind's whole life (read, diff, create, update, delete, wait).
//!
//! Shared rules live once: [`errors`] (the error-class table), [`retry`]
//! (backoff and waits), [`tags`] (ownership tags in create calls),
//! [`clients`] (per-region clients, emulator quirks, call counting).

pub mod cache;
pub mod clients;
mod ec2_lookup;
pub mod errors;
pub mod orphans;
pub mod props;
pub mod retry;
pub mod s3_state;
pub mod tag_index;
pub mod tags;

pub mod alarm;
pub mod autoscaling_group;
pub mod bucket;
pub mod bucket_replication;
pub mod db_instance;
pub mod db_subnet_group;
pub mod drill;
pub mod dynamodb_replica;
pub mod dynamodb_table;
pub mod eip;
pub mod failover_records;
pub mod health_check;
pub mod hosted_zone;
pub mod iam_role;
pub mod igw_attachment;
pub mod instance_profile;
pub mod internet_gateway;
pub mod launch_template;
pub mod listener;
pub mod load_balancer;
pub mod nat_gateway;
pub mod route_table;
pub mod route_table_association;
pub mod scaling_policy;
pub mod secret;
pub mod security_group;
pub mod sns_subscription;
pub mod sns_topic;
pub mod subnet;
pub mod target_group;
pub mod vpc;

pub use clients::Aws;

/// Tests: a `$krate` client in `$region` answering from aws-smithy-mocks
/// `$rules` in `$mode`, with test credentials (one recipe for every service).
#[cfg(test)]
#[macro_export]
macro_rules! mock_client {
    ($krate:ident, $region:expr, $mode:expr, $rules:expr) => {{
        let mut interceptor = aws_smithy_mocks::MockResponseInterceptor::new().rule_mode($mode);
        for r in $rules {
            interceptor = interceptor.with_rule(r);
        }
        $krate::Client::from_conf(
            $krate::Config::builder()
                .behavior_version($krate::config::BehaviorVersion::latest())
                .region($krate::config::Region::new($region.to_string()))
                .credentials_provider($krate::config::Credentials::new(
                    "test", "test", None, None, "mock",
                ))
                .http_client(aws_smithy_mocks::create_mock_http_client())
                .interceptor(interceptor)
                .build(),
        )
    }};
}

use drctl_core::reconcile::Registry;
use std::sync::Arc;

/// Every reconciler, bound to one set of clients.
pub fn registry(aws: &Aws) -> Registry {
    let mut r = Registry::new();
    // Critical path first: the executor starts the slow chains at once.
    r.set_expected_durations(drctl_stack::timings::EXPECTED);
    r.register(Arc::new(vpc::VpcReconciler::new(aws)));
    r.register(Arc::new(subnet::SubnetReconciler::new(aws)));
    r.register(Arc::new(internet_gateway::InternetGatewayReconciler::new(
        aws,
    )));
    r.register(Arc::new(igw_attachment::IgwAttachmentReconciler::new(aws)));
    r.register(Arc::new(eip::EipReconciler::new(aws)));
    r.register(Arc::new(nat_gateway::NatGatewayReconciler::new(aws)));
    r.register(Arc::new(route_table::RouteTableReconciler::new(aws)));
    r.register(Arc::new(
        route_table_association::RouteTableAssociationReconciler::new(aws),
    ));
    r.register(Arc::new(security_group::SecurityGroupReconciler::new(aws)));
    r.register(Arc::new(iam_role::IamRoleReconciler::new(aws)));
    r.register(Arc::new(instance_profile::InstanceProfileReconciler::new(
        aws,
    )));
    r.register(Arc::new(load_balancer::LoadBalancerReconciler::new(aws)));
    r.register(Arc::new(target_group::TargetGroupReconciler::new(aws)));
    r.register(Arc::new(listener::ListenerReconciler::new(aws)));
    r.register(Arc::new(launch_template::LaunchTemplateReconciler::new(
        aws,
    )));
    r.register(Arc::new(
        autoscaling_group::AutoscalingGroupReconciler::new(aws),
    ));
    r.register(Arc::new(scaling_policy::ScalingPolicyReconciler::new(aws)));
    r.register(Arc::new(secret::SecretReconciler::new(aws)));
    r.register(Arc::new(db_subnet_group::DbSubnetGroupReconciler::new(aws)));
    r.register(Arc::new(db_instance::DbInstanceReconciler::new(aws)));
    r.register(Arc::new(dynamodb_table::DynamodbTableReconciler::new(aws)));
    r.register(Arc::new(dynamodb_replica::DynamodbReplicaReconciler::new(
        aws,
    )));
    r.register(Arc::new(bucket::BucketReconciler::new(aws)));
    r.register(Arc::new(
        bucket_replication::BucketReplicationReconciler::new(aws),
    ));
    r.register(Arc::new(hosted_zone::HostedZoneReconciler::new(aws)));
    r.register(Arc::new(health_check::HealthCheckReconciler::new(aws)));
    r.register(Arc::new(failover_records::FailoverRecordsReconciler::new(
        aws,
    )));
    r.register(Arc::new(sns_topic::SnsTopicReconciler::new(aws)));
    r.register(Arc::new(sns_subscription::SnsSubscriptionReconciler::new(
        aws,
    )));
    r.register(Arc::new(alarm::AlarmReconciler::new(aws)));
    r
}

/// A reconciler that refuses every call (kinds not written yet).
#[macro_export]
macro_rules! not_implemented {
    ($ty:ty, $kind:expr) => {
        #[async_trait::async_trait]
        impl drctl_core::reconcile::Reconciler for $ty {
            fn kind(&self) -> &'static str {
                $kind
            }
            async fn read(
                &self,
                _: &drctl_core::reconcile::Ctx,
                spec: &drctl_core::model::ResourceSpec,
                _: Option<&str>,
            ) -> Result<drctl_core::model::ReadOutcome, drctl_core::reconcile::ReconcileError> {
                Err(drctl_core::reconcile::ReconcileError::Invalid(format!(
                    "{}: kind {} is not implemented yet",
                    spec.address, $kind
                )))
            }
            async fn create(
                &self,
                _: &drctl_core::reconcile::Ctx,
                spec: &drctl_core::model::ResourceSpec,
                _: &str,
            ) -> Result<drctl_core::model::Observed, drctl_core::reconcile::ReconcileError> {
                Err(drctl_core::reconcile::ReconcileError::Invalid(format!(
                    "{}: kind {} is not implemented yet",
                    spec.address, $kind
                )))
            }
            async fn update(
                &self,
                _: &drctl_core::reconcile::Ctx,
                spec: &drctl_core::model::ResourceSpec,
                _: &drctl_core::model::Observed,
                _: &[drctl_core::diff::FieldChange],
            ) -> Result<drctl_core::model::Observed, drctl_core::reconcile::ReconcileError> {
                Err(drctl_core::reconcile::ReconcileError::Invalid(format!(
                    "{}: kind {} is not implemented yet",
                    spec.address, $kind
                )))
            }
            async fn delete(
                &self,
                _: &drctl_core::reconcile::Ctx,
                spec: &drctl_core::model::ResourceSpec,
                _: &drctl_core::model::Observed,
            ) -> Result<(), drctl_core::reconcile::ReconcileError> {
                Err(drctl_core::reconcile::ReconcileError::Invalid(format!(
                    "{}: kind {} is not implemented yet",
                    spec.address, $kind
                )))
            }
        }
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_kind_of_the_blueprint_has_a_reconciler() {
        let aws = crate::Aws::from_config(aws_types::SdkConfig::builder().build(), None);
        let r = super::registry(&aws);
        for k in drctl_stack::kinds::ALL {
            assert!(r.get(k).is_ok(), "{k}");
        }
    }
}
