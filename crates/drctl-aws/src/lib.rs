//! drctl's AWS reconcilers: one folder per AWS service, one file per
//! resource kind (`route53:health-check` is `route53/health_check.rs`), each
//! holding the kind's whole life (read, diff, create, update, delete, wait).
//! A service's `mod.rs` holds what its kinds share; no reconciler imports
//! another.
//!
//! Shared rules live once: [`errors`] (the error-class table), [`retry`]
//! (backoff and waits), [`tags`] (ownership tags in create calls),
//! [`clients`] (per-region clients, emulator quirks, call counting).

// Reconcilers nest futures deeply (a reconciler's step → `retry::call` →
// the retry loop → the SDK's send): the compiler's layout query for the
// longest ones needs more than the default depth of 128.
#![recursion_limit = "256"]

pub mod cache;
pub mod clients;
pub mod errors;
pub mod orphans;
pub mod props;
pub mod retry;
pub mod s3_state;
pub mod tag_index;
pub mod tags;
#[cfg(test)]
pub(crate) mod testing;

pub mod drill;

// One folder per AWS service, one file per kind (`route53:health-check` is
// `route53/health_check.rs`); a service's `mod.rs` holds its shared code.
pub mod autoscaling;
pub mod cloudwatch;
pub mod dynamodb;
pub mod ec2;
pub mod elbv2;
pub mod iam;
pub mod rds;
pub mod route53;
pub mod s3;
pub mod secretsmanager;
pub mod sns;

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
    r.register(Arc::new(ec2::vpc::VpcReconciler::new(aws)));
    r.register(Arc::new(ec2::subnet::SubnetReconciler::new(aws)));
    r.register(Arc::new(
        ec2::internet_gateway::InternetGatewayReconciler::new(aws),
    ));
    r.register(Arc::new(ec2::igw_attachment::IgwAttachmentReconciler::new(
        aws,
    )));
    r.register(Arc::new(ec2::eip::EipReconciler::new(aws)));
    r.register(Arc::new(ec2::nat_gateway::NatGatewayReconciler::new(aws)));
    r.register(Arc::new(ec2::route_table::RouteTableReconciler::new(aws)));
    r.register(Arc::new(
        ec2::route_table_association::RouteTableAssociationReconciler::new(aws),
    ));
    r.register(Arc::new(ec2::security_group::SecurityGroupReconciler::new(
        aws,
    )));
    r.register(Arc::new(iam::role::IamRoleReconciler::new(aws)));
    r.register(Arc::new(
        iam::instance_profile::InstanceProfileReconciler::new(aws),
    ));
    r.register(Arc::new(elbv2::load_balancer::LoadBalancerReconciler::new(
        aws,
    )));
    r.register(Arc::new(elbv2::target_group::TargetGroupReconciler::new(
        aws,
    )));
    r.register(Arc::new(elbv2::listener::ListenerReconciler::new(aws)));
    r.register(Arc::new(
        ec2::launch_template::LaunchTemplateReconciler::new(aws),
    ));
    r.register(Arc::new(
        autoscaling::group::AutoscalingGroupReconciler::new(aws),
    ));
    r.register(Arc::new(
        autoscaling::scaling_policy::ScalingPolicyReconciler::new(aws),
    ));
    r.register(Arc::new(secretsmanager::secret::SecretReconciler::new(aws)));
    r.register(Arc::new(
        rds::db_subnet_group::DbSubnetGroupReconciler::new(aws),
    ));
    r.register(Arc::new(rds::db_instance::DbInstanceReconciler::new(aws)));
    r.register(Arc::new(dynamodb::table::DynamodbTableReconciler::new(aws)));
    r.register(Arc::new(dynamodb::replica::DynamodbReplicaReconciler::new(
        aws,
    )));
    r.register(Arc::new(s3::bucket::BucketReconciler::new(aws)));
    r.register(Arc::new(s3::replication::BucketReplicationReconciler::new(
        aws,
    )));
    r.register(Arc::new(route53::hosted_zone::HostedZoneReconciler::new(
        aws,
    )));
    r.register(Arc::new(route53::health_check::HealthCheckReconciler::new(
        aws,
    )));
    r.register(Arc::new(
        route53::failover_records::FailoverRecordsReconciler::new(aws),
    ));
    r.register(Arc::new(sns::topic::SnsTopicReconciler::new(aws)));
    r.register(Arc::new(sns::subscription::SnsSubscriptionReconciler::new(
        aws,
    )));
    r.register(Arc::new(cloudwatch::alarm::AlarmReconciler::new(aws)));
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
                Err(drctl_core::reconcile::ReconcileError::Internal(format!(
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
                Err(drctl_core::reconcile::ReconcileError::Internal(format!(
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
                Err(drctl_core::reconcile::ReconcileError::Internal(format!(
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
                Err(drctl_core::reconcile::ReconcileError::Internal(format!(
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
