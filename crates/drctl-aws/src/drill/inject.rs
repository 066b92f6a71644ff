//! Failure injection, by method, and its exact undo. [`prior`] reads what
//! [`inject`] will change; [`restore`] puts back exactly that and is safe to
//! call again (an abort after a completed restore changes nothing).

use super::{cloud_err, Topology};

use crate::Aws;
use aws_sdk_ec2::types::{IpPermission, IpRange};
use drctl_core::drill::{DrillError, IngressRule, Injection, Method};

/// The ALB ports the `sg` method closes (STACK.md: 80 and 443 from anywhere).
const ALB_PORTS: [i32; 2] = [80, 443];
const ANYWHERE: &str = "0.0.0.0/0";

pub async fn prior(aws: &Aws, t: &Topology, method: Method) -> Result<Injection, DrillError> {
    match method {
        Method::Asg => {
            let out = aws
                .autoscaling(&t.primary)
                .describe_auto_scaling_groups()
                .auto_scaling_group_names(&t.primary_asg)
                .send()
                .await
                .map_err(|e| cloud_err("DescribeAutoScalingGroups", e))?;
            let g = out.auto_scaling_groups().first().ok_or_else(|| {
                DrillError::Cloud(format!("ASG {} not found in {}", t.primary_asg, t.primary))
            })?;
            let (min, desired) = (g.min_size().unwrap_or(0), g.desired_capacity().unwrap_or(0));
            if desired == 0 {
                return Err(DrillError::Cloud(format!(
                    "ASG {} already has desired capacity 0: the primary is already down",
                    t.primary_asg
                )));
            }
            Ok(Injection::Asg {
                region: t.primary.clone(),
                name: t.primary_asg.clone(),
                min_size: min,
                desired_capacity: desired,
            })
        }
        Method::Sg => {
            let ingress = open_rules(aws, &t.primary, &t.primary_alb_sg).await?;
            if ingress.is_empty() {
                return Err(DrillError::Cloud(format!(
                    "{} has no 80/443 ingress from {ANYWHERE} to revoke: the primary ALB is already blocked",
                    t.primary_alb_sg
                )));
            }
            Ok(Injection::Sg {
                region: t.primary.clone(),
                group_id: t.primary_alb_sg.clone(),
                ingress,
            })
        }
        Method::HealthCheck => {
            let out = aws
                .route53(aws.global_region())
                .get_health_check()
                .health_check_id(&t.primary_check)
                .send()
                .await
                .map_err(|e| cloud_err("GetHealthCheck", e))?;
            let inverted = out
                .health_check()
                .and_then(|h| h.health_check_config())
                .and_then(|c| c.inverted())
                .unwrap_or(false);
            if inverted {
                return Err(DrillError::Cloud(format!(
                    "health check {} is already inverted",
                    t.primary_check
                )));
            }
            Ok(Injection::HealthCheck {
                health_check_id: t.primary_check.clone(),
                inverted,
            })
        }
    }
}

/// The group's TCP 80/443 ingress rules from anywhere, one per port range and CIDR.
async fn open_rules(aws: &Aws, region: &str, group: &str) -> Result<Vec<IngressRule>, DrillError> {
    let out = aws
        .ec2(region)
        .describe_security_groups()
        .group_ids(group)
        .send()
        .await
        .map_err(|e| cloud_err("DescribeSecurityGroups", e))?;
    let mut rules = Vec::new();
    for sg in out.security_groups() {
        for p in sg.ip_permissions() {
            let (Some(from), Some(to)) = (p.from_port(), p.to_port()) else {
                continue;
            };
            if p.ip_protocol() != Some("tcp")
                || !ALB_PORTS.iter().any(|port| (from..=to).contains(port))
            {
                continue;
            }
            for r in p.ip_ranges() {
                if r.cidr_ip() == Some(ANYWHERE) {
                    rules.push(IngressRule {
                        protocol: "tcp".into(),
                        from_port: from,
                        to_port: to,
                        cidr: ANYWHERE.into(),
                    });
                }
            }
        }
    }
    Ok(rules)
}

fn permission(r: &IngressRule) -> IpPermission {
    IpPermission::builder()
        .ip_protocol(&r.protocol)
        .from_port(r.from_port)
        .to_port(r.to_port)
        .ip_ranges(IpRange::builder().cidr_ip(&r.cidr).build())
        .build()
}

pub async fn inject(aws: &Aws, prior: &Injection) -> Result<(), DrillError> {
    match prior {
        Injection::Asg { region, name, .. } => set_size(aws, region, name, 0, 0).await?,
        Injection::Sg {
            region,
            group_id,
            ingress,
        } => {
            aws.ec2(region)
                .revoke_security_group_ingress()
                .group_id(group_id)
                .set_ip_permissions(Some(ingress.iter().map(permission).collect()))
                .send()
                .await
                .map_err(|e| cloud_err("RevokeSecurityGroupIngress", e))?;
        }
        Injection::HealthCheck {
            health_check_id,
            inverted,
        } => {
            set_inverted(aws, health_check_id, !inverted).await?;
        }
    }
    Ok(())
}

pub async fn restore(aws: &Aws, prior: &Injection) -> Result<(), DrillError> {
    match prior {
        Injection::Asg {
            region,
            name,
            min_size,
            desired_capacity,
        } => set_size(aws, region, name, *min_size, *desired_capacity).await?,
        Injection::Sg {
            region,
            group_id,
            ingress,
        } => {
            // Only what is missing: a second restore authorizes nothing twice.
            let present = open_rules(aws, region, group_id).await?;
            let missing: Vec<IpPermission> = ingress
                .iter()
                .filter(|r| !present.contains(r))
                .map(permission)
                .collect();
            if !missing.is_empty() {
                aws.ec2(region)
                    .authorize_security_group_ingress()
                    .group_id(group_id)
                    .set_ip_permissions(Some(missing))
                    .send()
                    .await
                    .map_err(|e| cloud_err("AuthorizeSecurityGroupIngress", e))?;
            }
        }
        Injection::HealthCheck {
            health_check_id,
            inverted,
        } => {
            set_inverted(aws, health_check_id, *inverted).await?;
        }
    }
    Ok(())
}

/// Sets the group's `min_size` and `desired_capacity` (instances): 0 and 0
/// take the primary's instances away, the recorded sizes bring them back.
async fn set_size(
    aws: &Aws,
    region: &str,
    name: &str,
    min_size: i32,
    desired_capacity: i32,
) -> Result<(), DrillError> {
    aws.autoscaling(region)
        .update_auto_scaling_group()
        .auto_scaling_group_name(name)
        .min_size(min_size)
        .desired_capacity(desired_capacity)
        .send()
        .await
        .map_err(|e| cloud_err("UpdateAutoScalingGroup", e))?;
    Ok(())
}

async fn set_inverted(aws: &Aws, id: &str, inverted: bool) -> Result<(), DrillError> {
    aws.route53(aws.global_region())
        .update_health_check()
        .health_check_id(id)
        .inverted(inverted)
        .send()
        .await
        .map_err(|e| cloud_err("UpdateHealthCheck", e))?;
    Ok(())
}
