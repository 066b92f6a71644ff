//! Readiness (`drctl drill --check`): read-only checks that the secondary
//! can take over. Each check is named; a failed call is a failed check, not
//! an error, so one run reports every problem.

use super::{cloud_err, AwsDrill};

use drctl_core::drill::{Check, DnsAnswer, DrillError};

fn check(name: String, r: Result<String, String>) -> Check {
    match r {
        Ok(detail) => Check {
            name,
            ok: true,
            detail,
        },
        Err(detail) => Check {
            name,
            ok: false,
            detail,
        },
    }
}

pub async fn checks(d: &AwsDrill) -> Result<Vec<Check>, DrillError> {
    let t = &d.topology;
    Ok(vec![
        check(
            format!(
                "DynamoDB replica of {} in {} is ACTIVE",
                t.table, t.secondary
            ),
            replica(d).await,
        ),
        check(
            format!(
                "S3 replication {} -> {} is enabled",
                t.bucket, t.replica_bucket
            ),
            replication(d).await,
        ),
        check(
            format!("secondary ASG {} has healthy capacity", t.secondary_asg),
            capacity(d).await,
        ),
        check(
            "both Route53 health checks exist".into(),
            health_checks(d).await,
        ),
        check(
            format!("Route53 answers {} with the primary ALB", t.domain),
            dns(d).await,
        ),
    ])
}

fn msg(e: DrillError) -> String {
    e.to_string()
}

async fn replica(d: &AwsDrill) -> Result<String, String> {
    let t = &d.topology;
    let out = d
        .aws
        .dynamodb(&t.secondary)
        .describe_table()
        .table_name(&t.table)
        .send()
        .await
        .map_err(|e| msg(cloud_err("DescribeTable", e)))?;
    let status = out
        .table()
        .and_then(|x| x.table_status())
        .map(|s| s.as_str().to_string())
        .unwrap_or_default();
    if status != "ACTIVE" {
        return Err(format!("table status in {} is {status}", t.secondary));
    }
    let primary = d
        .aws
        .dynamodb(&t.primary)
        .describe_table()
        .table_name(&t.table)
        .send()
        .await
        .map_err(|e| msg(cloud_err("DescribeTable", e)))?;
    let replica = primary
        .table()
        .map(|x| x.replicas())
        .unwrap_or_default()
        .iter()
        .find(|r| r.region_name() == Some(t.secondary.as_str()));
    match replica.and_then(|r| r.replica_status()).map(|s| s.as_str()) {
        Some("ACTIVE") => Ok("ACTIVE in both regions".into()),
        Some(s) => Err(format!(
            "the primary lists the {} replica as {s}",
            t.secondary
        )),
        None => Err(format!(
            "the primary table lists no replica in {}",
            t.secondary
        )),
    }
}

async fn replication(d: &AwsDrill) -> Result<String, String> {
    let t = &d.topology;
    let out = d
        .aws
        .s3(&t.primary)
        .get_bucket_replication()
        .bucket(&t.bucket)
        .send()
        .await
        .map_err(|e| msg(cloud_err("GetBucketReplication", e)))?;
    let dest = format!("arn:aws:s3:::{}", t.replica_bucket);
    let rules = out
        .replication_configuration()
        .map(|c| c.rules())
        .unwrap_or_default();
    let enabled = rules.iter().find(|r| {
        r.status().as_str() == "Enabled"
            && r.destination().map(|x| x.bucket()) == Some(dest.as_str())
    });
    match enabled {
        Some(r) => Ok(format!("rule {} enabled", r.id().unwrap_or("(no id)"))),
        None => Err(format!("no enabled rule replicates to {dest}")),
    }
}

async fn capacity(d: &AwsDrill) -> Result<String, String> {
    let t = &d.topology;
    let out = d
        .aws
        .autoscaling(&t.secondary)
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(&t.secondary_asg)
        .send()
        .await
        .map_err(|e| msg(cloud_err("DescribeAutoScalingGroups", e)))?;
    let g = out
        .auto_scaling_groups()
        .first()
        .ok_or_else(|| format!("ASG {} not found in {}", t.secondary_asg, t.secondary))?;
    let in_service = g
        .instances()
        .iter()
        .filter(|i| i.lifecycle_state().map(|s| s.as_str()) == Some("InService"))
        .count();
    let health = d
        .aws
        .elbv2(&t.secondary)
        .describe_target_health()
        .target_group_arn(&t.secondary_tg)
        .send()
        .await
        .map_err(|e| msg(cloud_err("DescribeTargetHealth", e)))?;
    let healthy = health
        .target_health_descriptions()
        .iter()
        .filter(|h| {
            h.target_health()
                .and_then(|x| x.state())
                .map(|s| s.as_str())
                == Some("healthy")
        })
        .count();
    if healthy == 0 {
        return Err(format!(
            "{in_service} instance(s) InService, none healthy in the target group"
        ));
    }
    Ok(format!(
        "{in_service} instance(s) InService, {healthy} healthy target(s)"
    ))
}

async fn health_checks(d: &AwsDrill) -> Result<String, String> {
    let t = &d.topology;
    let r53 = d.aws.route53(d.aws.global_region());
    for id in [&t.primary_check, &t.secondary_check] {
        r53.get_health_check()
            .health_check_id(id)
            .send()
            .await
            .map_err(|e| msg(cloud_err("GetHealthCheck", e)))?;
    }
    Ok(format!("{} and {}", t.primary_check, t.secondary_check))
}

async fn dns(d: &AwsDrill) -> Result<String, String> {
    let t = &d.topology;
    let answer = d
        .aws
        .route53(d.aws.global_region())
        .test_dns_answer()
        .hosted_zone_id(&t.zone_id)
        .record_name(&t.domain)
        .record_type(aws_sdk_route53::types::RrType::A)
        .send()
        .await
        .map_err(|e| msg(cloud_err("TestDNSAnswer", e)))?;
    match super::observe::classify(answer.record_data(), t, &d.dns).await {
        DnsAnswer::Primary => Ok(answer.record_data().join(", ")),
        DnsAnswer::Secondary => {
            Err("it answers with the secondary ALB: the primary is already failed over".into())
        }
        DnsAnswer::Other(v) => Err(format!("it answers {v:?}, neither ALB")),
    }
}
