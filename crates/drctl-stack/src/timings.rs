//! How long each kind takes on real AWS: what the executor schedules by
//! (critical path first, see `drctl_core::schedule`) and what the simulation
//! benchmark (`scripts/bench.sh --sim`) sleeps.
//!
//! Figures are typical values in seconds, create (until usable by the
//! dependents: the reconciler's wait done) and delete (until gone), with the
//! observed range and its public source. "Synchronous API" means the call
//! returns the finished resource; the figure is then the call plus the
//! reconciler's follow-up calls (tags, attributes) at ~0.3 s each.

use crate::kinds::*;
use drctl_core::schedule::ExpectedDuration;

const fn e(
    kind: &'static str,
    create_secs: u64,
    delete_secs: u64,
    source: &'static str,
) -> ExpectedDuration {
    ExpectedDuration {
        kind,
        create_secs,
        delete_secs,
        source,
    }
}

/// One line per kind of [`crate::kinds::ALL`] (a test checks it).
pub const EXPECTED: &[ExpectedDuration] = &[
    e(VPC, 3, 3, "synchronous API; state pending -> available in seconds (EC2 API Reference, CreateVpc)"),
    e(SUBNET, 2, 2, "synchronous API (EC2 API Reference, CreateSubnet)"),
    e(INTERNET_GATEWAY, 2, 2, "synchronous API (EC2 API Reference, CreateInternetGateway)"),
    e(IGW_ATTACHMENT, 2, 10, "attach synchronous; detach waits for the VPC's mapped public addresses to go, seconds to a minute (terraform-provider-aws #1303)"),
    e(EIP, 1, 2, "synchronous API (EC2 API Reference, AllocateAddress/ReleaseAddress)"),
    e(NAT_GATEWAY, 180, 60, "create 1-5 min, up to 10 (pending -> available); delete ~1 min (deleting -> deleted). AWS VPC User Guide, NAT gateways; Terraform aws_nat_gateway timeouts create 10m / delete 30m"),
    e(ROUTE_TABLE, 3, 2, "synchronous API, plus the default route (EC2 API Reference, CreateRoute)"),
    e(ROUTE_TABLE_ASSOCIATION, 1, 1, "synchronous API (EC2 API Reference, AssociateRouteTable)"),
    e(SECURITY_GROUP, 2, 5, "synchronous API; delete waits seconds for ENIs of deleted ALBs (DependencyViolation otherwise)"),
    e(LAUNCH_TEMPLATE, 1, 1, "synchronous API (EC2 API Reference, CreateLaunchTemplate)"),
    e(LOAD_BALANCER, 180, 30, "create 2-5 min (provisioning -> active; ELB User Guide, 'Create an Application Load Balancer'); delete tens of seconds. Terraform aws_lb timeouts create 10m / delete 10m"),
    e(TARGET_GROUP, 2, 2, "synchronous API (ELBv2 API Reference, CreateTargetGroup)"),
    e(LISTENER, 2, 2, "synchronous API (ELBv2 API Reference, CreateListener)"),
    e(AUTOSCALING_GROUP, 5, 180, "create returns at once (instances launch afterwards, drctl does not wait for capacity); delete waits for the instances to terminate, 1-5 min. Terraform aws_autoscaling_group timeouts delete 10m"),
    e(SCALING_POLICY, 1, 1, "synchronous API (Auto Scaling API Reference, PutScalingPolicy)"),
    e(IAM_ROLE, 15, 3, "create synchronous, then IAM propagation 10-30 s before EC2/S3 accept the role (IAM User Guide, 'Changes that I make are not always immediately visible')"),
    e(INSTANCE_PROFILE, 15, 3, "create + add role, then the profile becomes visible to EC2 after IAM propagation, 10-30 s (IAM User Guide, eventual consistency)"),
    e(SECRET, 1, 1, "synchronous API; force delete without recovery is immediate (Secrets Manager API Reference, DeleteSecret)"),
    e(DB_SUBNET_GROUP, 2, 2, "synchronous API (RDS API Reference, CreateDBSubnetGroup)"),
    e(DB_INSTANCE, 1080, 600, "Multi-AZ create 15-20 min, reports up to 36 (creating -> backing-up -> available); delete 5-15 min, longer with a final snapshot. RDS User Guide, 'Creating an Amazon RDS DB instance'; Terraform aws_db_instance timeouts create 40m / delete 60m"),
    e(DYNAMODB_TABLE, 20, 30, "on-demand table CREATING -> ACTIVE in seconds to a minute (DynamoDB Developer Guide, CreateTable); delete after its replicas are gone. Terraform aws_dynamodb_table timeouts create 30m / delete 10m"),
    e(DYNAMODB_REPLICA, 300, 300, "adding a global-table replica (2019.11.21) takes several minutes for an empty table, longer with data; removing one likewise (DynamoDB Developer Guide, 'Adding a replica'; Terraform aws_dynamodb_table_replica timeouts create 30m / delete 30m)"),
    e(BUCKET, 3, 3, "synchronous API, plus versioning, encryption and public access block calls (S3 API Reference, CreateBucket)"),
    e(BUCKET_REPLICATION, 2, 1, "synchronous API; the replication role must be visible first (S3 API Reference, PutBucketReplication)"),
    e(HOSTED_ZONE, 40, 40, "create and delete return a change that is INSYNC within 60 s (Route 53 API Reference, GetChange: 'changes generally propagate to all Route 53 name servers within 60 seconds')"),
    e(HEALTH_CHECK, 2, 2, "synchronous API (Route 53 API Reference, CreateHealthCheck)"),
    e(FAILOVER_RECORDS, 40, 40, "ChangeResourceRecordSets then wait INSYNC, within 60 s (Route 53 API Reference, ChangeResourceRecordSets)"),
    e(SNS_TOPIC, 1, 1, "synchronous API (SNS API Reference, CreateTopic)"),
    e(SNS_SUBSCRIPTION, 1, 1, "synchronous API; the e-mail confirmation is not waited for (SNS API Reference, Subscribe)"),
    e(ALARM, 1, 1, "synchronous API (CloudWatch API Reference, PutMetricAlarm)"),
];

/// Where the Terraform timeouts quoted above are documented (`<kind>#timeouts`).
pub const TERRAFORM_DOCS: &str =
    "https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_one_figure_with_a_source() {
        for kind in ALL {
            let n = EXPECTED.iter().filter(|e| e.kind == *kind).count();
            assert_eq!(n, 1, "{kind}: {n} lines in EXPECTED");
        }
        assert_eq!(EXPECTED.len(), ALL.len());
        for e in EXPECTED {
            assert!(e.create_secs >= 1 && e.delete_secs >= 1, "{}", e.kind);
            assert!(e.source.len() > 20, "{}: no source", e.kind);
        }
    }
}
