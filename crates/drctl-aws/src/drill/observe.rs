//! What the drill watches: the primary health check as Route53 uses it
//! (`GetHealthCheckStatus` observations, `Inverted` applied), what Route53
//! answers for the domain (`TestDNSAnswer`), and the secondary's healthy
//! targets (`DescribeTargetHealth`).

use super::{cloud_err, Topology};
use crate::Aws;
use drctl_core::drill::{DnsAnswer, DrillError, Observation};
use std::collections::BTreeSet;
use std::net::IpAddr;
use tokio::sync::Mutex;

/// Route53 considers an endpoint healthy when more than 18 % of its checkers
/// report success (Route53 developer guide, "How Amazon Route 53 determines
/// whether a health check is healthy").
const HEALTHY_FRACTION: f64 = 0.18;

/// The ALBs' IP addresses, resolved once: AWS's `TestDNSAnswer` gives the
/// alias target's IPs, not its name.
#[derive(Default)]
pub struct AlbAddresses(Mutex<Option<(BTreeSet<IpAddr>, BTreeSet<IpAddr>)>>);

pub async fn observe(
    aws: &Aws,
    t: &Topology,
    ips: &AlbAddresses,
) -> Result<Observation, DrillError> {
    let r53 = aws.route53(aws.global_region());
    let status = r53
        .get_health_check_status()
        .health_check_id(&t.primary_check)
        .send()
        .await
        .map_err(|e| cloud_err("GetHealthCheckStatus", e))?;
    let reports: Vec<String> = status
        .health_check_observations()
        .iter()
        .filter_map(|o| {
            o.status_report()
                .and_then(|r| r.status())
                .map(str::to_string)
        })
        .collect();
    let config = r53
        .get_health_check()
        .health_check_id(&t.primary_check)
        .send()
        .await
        .map_err(|e| cloud_err("GetHealthCheck", e))?;
    let inverted = config
        .health_check()
        .and_then(|h| h.health_check_config())
        .and_then(|c| c.inverted())
        .unwrap_or(false);
    let (healthy, detail) = check_view(&reports, inverted);

    let answer = r53
        .test_dns_answer()
        .hosted_zone_id(&t.zone_id)
        .record_name(&t.domain)
        .record_type(aws_sdk_route53::types::RrType::A)
        .send()
        .await
        .map_err(|e| cloud_err("TestDNSAnswer", e))?;
    let dns = classify(answer.record_data(), t, ips).await;

    let targets = aws
        .elbv2(&t.secondary)
        .describe_target_health()
        .target_group_arn(&t.secondary_tg)
        .send()
        .await
        .map_err(|e| cloud_err("DescribeTargetHealth", e))?;
    let healthy_targets = targets
        .target_health_descriptions()
        .iter()
        .filter(|d| {
            d.target_health().and_then(|h| h.state())
                == Some(&aws_sdk_elasticloadbalancingv2::types::TargetHealthStateEnum::Healthy)
        })
        .count();

    Ok(Observation {
        primary_check_healthy: healthy,
        primary_check_detail: detail,
        dns,
        secondary_healthy_targets: healthy_targets,
    })
}

/// Route53's view of a check from its checkers' reports: (healthy, detail).
pub fn check_view(reports: &[String], inverted: bool) -> (bool, String) {
    let ok = reports.iter().filter(|r| r.starts_with("Success")).count();
    let n = reports.len();
    // No reports yet: AWS treats a new check as healthy.
    let raw = n == 0 || (ok as f64) / (n as f64) > HEALTHY_FRACTION;
    let sample = reports
        .iter()
        .find(|r| !r.starts_with("Success"))
        .or(reports.first())
        .cloned()
        .unwrap_or_else(|| "no reports yet".into());
    let mut detail = format!("{}/{n} checkers report failure: {sample}", n - ok);
    if inverted {
        detail.push_str("; the check is inverted");
    }
    (raw != inverted, detail)
}

fn norm(s: &str) -> String {
    s.trim_end_matches('.').to_ascii_lowercase()
}

/// Which ALB the answer points at: by name (the emulator answers the alias
/// target's name), else by the ALBs' resolved addresses (AWS answers IPs).
pub async fn classify(data: &[String], t: &Topology, ips: &AlbAddresses) -> DnsAnswer {
    let names: Vec<String> = data.iter().map(|d| norm(d)).collect();
    if names.contains(&norm(&t.primary_alb_dns)) {
        return DnsAnswer::Primary;
    }
    if names.contains(&norm(&t.secondary_alb_dns)) {
        return DnsAnswer::Secondary;
    }
    let answer: BTreeSet<IpAddr> = data.iter().filter_map(|d| d.parse().ok()).collect();
    if !answer.is_empty() {
        let mut cached = ips.0.lock().await;
        if cached.is_none() {
            *cached = Some((
                resolve(&t.primary_alb_dns).await,
                resolve(&t.secondary_alb_dns).await,
            ));
        }
        if let Some((p, s)) = cached.as_ref() {
            if !answer.is_disjoint(p) {
                return DnsAnswer::Primary;
            }
            if !answer.is_disjoint(s) {
                return DnsAnswer::Secondary;
            }
        }
    }
    DnsAnswer::Other(data.to_vec())
}

async fn resolve(name: &str) -> BTreeSet<IpAddr> {
    match tokio::net::lookup_host((name, 80)).await {
        Ok(addrs) => addrs.map(|a| a.ip()).collect(),
        Err(e) => {
            tracing::debug!(%name, error = %e, "cannot resolve ALB name");
            BTreeSet::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_is_healthy_while_more_than_18_percent_of_checkers_succeed() {
        let r = |ok: usize, bad: usize| {
            let mut v = vec!["Success: HTTP Status Code 200, OK".to_string(); ok];
            v.extend(vec!["Failure: HTTP Status Code 503".to_string(); bad]);
            v
        };
        assert!(check_view(&r(3, 0), false).0);
        assert!(check_view(&r(1, 4), false).0); // 20 %
        assert!(!check_view(&r(1, 5), false).0); // 16.7 %
        assert!(!check_view(&r(3, 0), true).0, "inverted");
        assert!(check_view(&r(0, 3), true).0, "inverted failure");
        let (_, detail) = check_view(&r(0, 3), false);
        assert_eq!(
            detail,
            "3/3 checkers report failure: Failure: HTTP Status Code 503"
        );
    }
}
