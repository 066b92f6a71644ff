//! What `drctl import ADDR ID` accepts as `ID`, checked before any call:
//! the form [`crate::kinds::IMPORT_IDS`] gives for the kind, or the
//! resource's ARN where it names the resource unambiguously (a bucket's
//! `arn:aws:s3:::NAME`, a table's `arn:aws:dynamodb:REGION:ACCOUNT:table/NAME`).
//! An ARN is checked against the address: its service and resource type,
//! its region (the address's region; empty for global services) and its
//! account (the credentials'). Refusals are one sentence saying what is
//! wrong and what to pass.

use crate::kinds::*;

/// How a kind whose import id is not its ARN finds that id inside its ARN
/// (`arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`): the service, and the
/// prefix of RESOURCE before the id. `last`: the id is RESOURCE's last
/// `/`-separated part (an IAM path or an Auto Scaling group's uuid comes
/// before it); otherwise the id is the rest after the prefix, and must hold
/// no `/` (`arn:aws:s3:::bucket/key` is an object, not a bucket).
struct InArn {
    kind: &'static str,
    service: &'static str,
    prefix: &'static str,
    last: bool,
}

const fn in_arn(kind: &'static str, service: &'static str, prefix: &'static str) -> InArn {
    InArn {
        kind,
        service,
        prefix,
        last: false,
    }
}

/// The ARN of each kind whose import id is a name or id (AWS's ARN formats,
/// Service Authorization Reference, "Resource types defined by ...").
const IN_ARN: &[InArn] = &[
    in_arn(VPC, "ec2", "vpc/"),
    in_arn(SUBNET, "ec2", "subnet/"),
    in_arn(INTERNET_GATEWAY, "ec2", "internet-gateway/"),
    in_arn(EIP, "ec2", "elastic-ip/"),
    in_arn(NAT_GATEWAY, "ec2", "natgateway/"),
    in_arn(ROUTE_TABLE, "ec2", "route-table/"),
    in_arn(SECURITY_GROUP, "ec2", "security-group/"),
    in_arn(LAUNCH_TEMPLATE, "ec2", "launch-template/"),
    InArn {
        kind: AUTOSCALING_GROUP,
        service: "autoscaling",
        prefix: "autoScalingGroup:",
        last: true,
    },
    InArn {
        kind: IAM_ROLE,
        service: "iam",
        prefix: "role/",
        last: true,
    },
    InArn {
        kind: INSTANCE_PROFILE,
        service: "iam",
        prefix: "instance-profile/",
        last: true,
    },
    in_arn(DB_SUBNET_GROUP, "rds", "subgrp:"),
    in_arn(DB_INSTANCE, "rds", "db:"),
    in_arn(DYNAMODB_TABLE, "dynamodb", "table/"),
    in_arn(BUCKET, "s3", ""),
    in_arn(HOSTED_ZONE, "route53", "hostedzone/"),
    in_arn(HEALTH_CHECK, "route53", "healthcheck/"),
    in_arn(ALARM, "cloudwatch", "alarm:"),
];

/// The service of each kind whose import id *is* its ARN.
const ARN_SERVICE: &[(&str, &str)] = &[
    (LOAD_BALANCER, "elasticloadbalancing"),
    (TARGET_GROUP, "elasticloadbalancing"),
    (LISTENER, "elasticloadbalancing"),
    (SECRET, "secretsmanager"),
    (SNS_TOPIC, "sns"),
    (DYNAMODB_REPLICA, "dynamodb"),
];

/// The parts of an ARN drctl checks.
struct Arn<'a> {
    service: &'a str,
    region: &'a str,
    account: &'a str,
    resource: &'a str,
}

fn parse_arn(s: &str) -> Option<Arn<'_>> {
    let mut parts = s.splitn(6, ':');
    let (_arn, _partition) = (parts.next()?, parts.next()?);
    let arn = Arn {
        service: parts.next()?,
        region: parts.next()?,
        account: parts.next()?,
        resource: parts.next()?,
    };
    (!arn.service.is_empty() && !arn.resource.is_empty()).then_some(arn)
}

/// The id `drctl import` reads a resource of `kind` at `address` by, from
/// the `given` one.
///
/// `region`: the address's region (`None` for a global address);
/// `account`: the credentials' account, when known. Returns `given` as it
/// is when it is not an ARN, or is the ARN the kind takes; the name or id
/// inside the ARN for a kind that takes a name or id (`IN_ARN`).
///
/// # Errors
/// A sentence (without the `cannot import ADDR:` the caller puts first)
/// when `given` is empty or blank, is not a well-formed ARN, is an ARN of
/// another service or resource type, or names another region or account
/// than the address.
pub fn import_id(
    kind: &str,
    address: &str,
    region: Option<&str>,
    account: Option<&str>,
    given: &str,
) -> Result<String, String> {
    let form = crate::kinds::import_id(kind)
        .map(|i| i.form)
        .unwrap_or("its physical id");
    if given.trim().is_empty() {
        return Err(format!(
            "the id is empty: give {kind}'s id after the address ({form}), e.g. `drctl import {address} ID`"
        ));
    }
    if !given.starts_with("arn:") {
        return Ok(given.to_string());
    }
    let Some(arn) = parse_arn(given) else {
        return Err(format!(
            "{given} is not a well-formed ARN (arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE); {kind} takes {form}"
        ));
    };
    if let Some(want) = region.filter(|r| !arn.region.is_empty() && arn.region != *r) {
        return Err(format!(
            "{given} is in region {}, but {address} is in region {want}: give the id of the {kind} in {want}, or the address of the one in {}",
            arn.region, arn.region
        ));
    }
    if let Some(want) = account.filter(|a| !arn.account.is_empty() && arn.account != *a) {
        return Err(format!(
            "{given} belongs to account {}, but the credentials are for account {want}: drctl imports only from the account it manages",
            arn.account
        ));
    }
    let other_service = |service: &str| {
        format!(
            "{given} is an ARN of {}, not of {service}: {kind} takes {form}",
            arn.service
        )
    };
    if let Some((_, service)) = ARN_SERVICE.iter().find(|(k, _)| *k == kind) {
        return if arn.service == *service {
            Ok(given.to_string())
        } else {
            Err(other_service(service))
        };
    }
    let Some(rule) = IN_ARN.iter().find(|r| r.kind == kind) else {
        return Err(format!("{kind} takes {form}, not an ARN"));
    };
    if arn.service != rule.service {
        return Err(other_service(rule.service));
    }
    let id = arn.resource.strip_prefix(rule.prefix).and_then(|rest| {
        if rule.last {
            rest.rsplit('/').next()
        } else {
            (!rest.contains('/')).then_some(rest)
        }
    });
    match id {
        Some(id) if !id.is_empty() => Ok(id.to_string()),
        _ => Err(format!(
            "{given} is not the ARN of a {kind} (its resource part should start with {:?}); {kind} takes {form} or its ARN",
            rule.prefix
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: Option<&str> = Some("000000000000");

    fn id(kind: &str, region: Option<&str>, given: &str) -> Result<String, String> {
        import_id(kind, "r/x", region, ACCOUNT, given)
    }

    #[test]
    fn an_arn_gives_the_name_or_id_a_kind_takes() {
        let east = Some("us-east-1");
        let cases = [
            (BUCKET, None, "arn:aws:s3:::trading-data", "trading-data"),
            (
                DYNAMODB_TABLE,
                east,
                "arn:aws:dynamodb:us-east-1:000000000000:table/sessions",
                "sessions",
            ),
            (
                IAM_ROLE,
                None,
                "arn:aws:iam::000000000000:role/path/to/ec2-role",
                "ec2-role",
            ),
            (
                AUTOSCALING_GROUP,
                east,
                "arn:aws:autoscaling:us-east-1:000000000000:autoScalingGroup:1a2b:autoScalingGroupName/asg",
                "asg",
            ),
            (
                VPC,
                east,
                "arn:aws:ec2:us-east-1:000000000000:vpc/vpc-12",
                "vpc-12",
            ),
            (
                DB_INSTANCE,
                east,
                "arn:aws:rds:us-east-1:000000000000:db:trading-db",
                "trading-db",
            ),
            (
                ALARM,
                east,
                "arn:aws:cloudwatch:us-east-1:000000000000:alarm:cpu",
                "cpu",
            ),
            (
                HOSTED_ZONE,
                None,
                "arn:aws:route53:::hostedzone/Z123",
                "Z123",
            ),
            (BUCKET, None, "trading-data", "trading-data"),
            (
                SNS_TOPIC,
                east,
                "arn:aws:sns:us-east-1:000000000000:alerts",
                "arn:aws:sns:us-east-1:000000000000:alerts",
            ),
        ];
        for (kind, region, given, want) in cases {
            assert_eq!(
                id(kind, region, given).as_deref(),
                Ok(want),
                "{kind} {given}"
            );
        }
    }

    #[test]
    fn every_importable_kind_takes_its_arn_or_says_what_it_takes() {
        for i in IMPORT_IDS {
            let known = IN_ARN.iter().any(|r| r.kind == i.kind)
                || ARN_SERVICE.iter().any(|(k, _)| *k == i.kind);
            assert!(known, "{}: add it to IN_ARN or ARN_SERVICE", i.kind);
        }
    }

    #[test]
    fn refusals_say_what_is_wrong() {
        let east = Some("us-east-1");
        for blank in ["", "  ", "\t"] {
            let e = id(BUCKET, None, blank).unwrap_err();
            assert!(
                e.starts_with(
                    "the id is empty: give s3:bucket's id after the address (the bucket name)"
                ),
                "{e}"
            );
        }
        let e = id(SNS_TOPIC, east, "arn:aws:sns:us-west-2:000000000000:alerts").unwrap_err();
        assert_eq!(e, "arn:aws:sns:us-west-2:000000000000:alerts is in region us-west-2, but r/x is in region us-east-1: give the id of the sns:topic in us-east-1, or the address of the one in us-west-2");
        let e = id(
            DYNAMODB_TABLE,
            east,
            "arn:aws:dynamodb:us-east-1:111111111111:table/t",
        )
        .unwrap_err();
        assert!(
            e.contains(
                "belongs to account 111111111111, but the credentials are for account 000000000000"
            ),
            "{e}"
        );
        let e = id(SECRET, east, "arn:aws:sns:us-east-1:000000000000:alerts").unwrap_err();
        assert!(e.contains("is an ARN of sns, not of secretsmanager"), "{e}");
        let e = id(BUCKET, None, "arn:aws:s3:::bucket/key").unwrap_err();
        assert!(e.contains("is not the ARN of a s3:bucket"), "{e}");
        let e = id(
            DYNAMODB_TABLE,
            east,
            "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/x",
        )
        .unwrap_err();
        assert!(e.contains("is not the ARN of a dynamodb:table"), "{e}");
        let e = id(BUCKET, None, "arn:aws").unwrap_err();
        assert!(e.contains("is not a well-formed ARN"), "{e}");
    }
}
