//! Route53 (STACK.md section 8) and monitoring (section 9) against the
//! emulator, checked through the AWS APIs: create, a second plan with no
//! change and no mutating call, drift shown and repaired, destroy in the
//! order AWS needs (records before the health checks, then the zone) with
//! nothing left behind.
//!
//! `dns_and_monitoring_with_literal_targets` gives the health checks,
//! records and alarms literal ALB names and dimensions, so it needs no other
//! group's kinds; `dns_and_monitoring_on_the_dev_stack` runs the dev
//! stack's slice end to end against real ALBs, target groups and the DB.

use aws_sdk_route53::types::{ResourceRecordSetFailover, RrType, TagResourceType};
use drctl_core::apply::Event;
use drctl_core::engine::Engine;
use drctl_core::graph::StackGraph;
use drctl_core::model::{Address, ResourceSpec};
use drctl_core::plan::Action;
use drctl_core::reconcile::Ctx;
use drctl_testkit::{dev_stack, slice, unique_env, Run, ACCOUNT};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

const PRIMARY: &str = "us-east-1";
const SECONDARY: &str = "us-west-2";
const REGIONS: [&str; 2] = [PRIMARY, SECONDARY];
const EMAIL: &str = "dev-alerts@example.com";

/// Where each region's health check and record point.
#[derive(Clone, Debug)]
struct Target {
    region: &'static str,
    dns: String,
    zone: String,
}

/// What the `alb-unhealthy` alarm of a region watches.
#[derive(Clone, Debug)]
struct AlbDims {
    load_balancer: String,
    target_group: String,
}

fn norm(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn tags_r53(tags: &[aws_sdk_route53::types::Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .map(|t| {
            (
                t.key().unwrap_or("").to_string(),
                t.value().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// The hosted zone of `domain` that carries this env's tag (exactly one).
async fn owned_zone(run: &Run, domain: &str) -> Option<String> {
    let r53 = run.aws.route53(PRIMARY);
    let zones = r53
        .list_hosted_zones_by_name()
        .dns_name(domain)
        .send()
        .await
        .unwrap();
    let mut owned = vec![];
    for z in zones
        .hosted_zones()
        .iter()
        .filter(|z| norm(z.name()) == domain)
    {
        let id = z.id().trim_start_matches("/hostedzone/").to_string();
        let tags = r53
            .list_tags_for_resource()
            .resource_type(TagResourceType::Hostedzone)
            .resource_id(&id)
            .send()
            .await
            .unwrap();
        let tags = tags_r53(tags.resource_tag_set().unwrap().tags());
        if tags.get("drctl:env") == Some(&run.env) {
            assert_eq!(tags["drctl:address"], "global/route53/zone");
            assert_eq!(tags["Name"], domain);
            owned.push(id);
        }
    }
    assert!(owned.len() <= 1, "{owned:?}");
    owned.pop()
}

/// Health check ids of this env, by `drctl:address`.
async fn owned_checks(run: &Run) -> BTreeMap<String, String> {
    let r53 = run.aws.route53(PRIMARY);
    let all = r53.list_health_checks().send().await.unwrap();
    let mut out = BTreeMap::new();
    for hc in all.health_checks() {
        let tags = r53
            .list_tags_for_resource()
            .resource_type(TagResourceType::Healthcheck)
            .resource_id(hc.id())
            .send()
            .await
            .unwrap();
        let tags = tags_r53(tags.resource_tag_set().unwrap().tags());
        if tags.get("drctl:env") == Some(&run.env) {
            out.insert(tags["drctl:address"].clone(), hc.id().to_string());
        }
    }
    out
}

/// Section 8: zone, an HTTP check per region, PRIMARY/SECONDARY aliases.
/// Returns the zone id and the check ids (primary, secondary).
async fn check_route53(run: &Run, domain: &str, targets: &[Target; 2]) -> (String, [String; 2]) {
    let r53 = run.aws.route53(PRIMARY);
    let zone = owned_zone(run, domain)
        .await
        .expect("the env's zone for the domain");

    let checks = owned_checks(run).await;
    assert_eq!(checks.len(), 2, "{checks:?}");
    let mut ids = [String::new(), String::new()];
    for (i, (role, t)) in ["primary", "secondary"].iter().zip(targets).enumerate() {
        let id = &checks[&format!("global/route53/health-check-{role}")];
        let hc = r53
            .get_health_check()
            .health_check_id(id)
            .send()
            .await
            .unwrap();
        let c = hc.health_check().unwrap().health_check_config().unwrap();
        assert_eq!(c.r#type().as_str(), "HTTP");
        assert_eq!(
            norm(c.fully_qualified_domain_name().unwrap()),
            norm(&t.dns),
            "{role} check on {}'s ALB",
            t.region
        );
        assert_eq!(c.port(), Some(80));
        assert_eq!(c.resource_path(), Some("/health"));
        assert_eq!(c.request_interval(), Some(30));
        assert_eq!(c.failure_threshold(), Some(3));
        ids[i] = id.clone();
    }

    let records = r53
        .list_resource_record_sets()
        .hosted_zone_id(&zone)
        .start_record_name(domain)
        .start_record_type(RrType::A)
        .send()
        .await
        .unwrap();
    let a: Vec<_> = records
        .resource_record_sets()
        .iter()
        .filter(|r| norm(r.name()) == domain && r.r#type() == &RrType::A)
        .collect();
    assert_eq!(a.len(), 2, "{a:#?}");
    for (i, (role, failover)) in [
        ("primary", ResourceRecordSetFailover::Primary),
        ("secondary", ResourceRecordSetFailover::Secondary),
    ]
    .into_iter()
    .enumerate()
    {
        let set = format!("trading-{}-{role}", run.env);
        let r = a
            .iter()
            .find(|r| r.set_identifier() == Some(set.as_str()))
            .unwrap_or_else(|| panic!("record {set}"));
        assert_eq!(r.failover(), Some(&failover));
        let alias = r.alias_target().expect("an alias record");
        assert_eq!(norm(alias.dns_name()), norm(&targets[i].dns));
        assert_eq!(alias.hosted_zone_id(), targets[i].zone);
        assert!(alias.evaluate_target_health());
        assert_eq!(r.health_check_id(), Some(ids[i].as_str()));
    }
    (zone, ids)
}

fn topic_arn(region: &str, env: &str) -> String {
    format!("arn:aws:sns:{region}:{ACCOUNT}:trading-alerts-{env}")
}

/// Section 9 in one region: topic, email subscription, the alarms.
async fn check_monitoring(run: &Run, region: &str, alb: &AlbDims, with_rds: bool) {
    let env = &run.env;
    let sns = run.aws.sns(region);
    let topic = topic_arn(region, env);
    sns.get_topic_attributes()
        .topic_arn(&topic)
        .send()
        .await
        .unwrap();
    let tags = sns
        .list_tags_for_resource()
        .resource_arn(&topic)
        .send()
        .await
        .unwrap();
    assert!(tags
        .tags()
        .iter()
        .any(|t| t.key() == "drctl:env" && t.value() == env));
    let subs = sns
        .list_subscriptions_by_topic()
        .topic_arn(&topic)
        .send()
        .await
        .unwrap();
    let emails: Vec<_> = subs
        .subscriptions()
        .iter()
        .filter(|s| s.protocol() == Some("email"))
        .map(|s| s.endpoint().unwrap_or(""))
        .collect();
    assert_eq!(emails, [EMAIL]);

    let cw = run.aws.cloudwatch(region);
    let mut expected = vec![
        (
            format!("trading-alb-unhealthy-{env}"),
            "AWS/ApplicationELB",
            "UnHealthyHostCount",
            "GreaterThanOrEqualToThreshold",
            1.0,
            60,
            2,
            vec![
                ("LoadBalancer", alb.load_balancer.clone()),
                ("TargetGroup", alb.target_group.clone()),
            ],
        ),
        (
            format!("trading-dynamodb-throttle-{env}"),
            "AWS/DynamoDB",
            "ReadThrottleEvents",
            "GreaterThanThreshold",
            10.0,
            300,
            1,
            vec![("TableName", format!("trading-sessions-{env}"))],
        ),
    ];
    if with_rds {
        expected.push((
            format!("trading-rds-cpu-{env}"),
            "AWS/RDS",
            "CPUUtilization",
            "GreaterThanThreshold",
            80.0,
            300,
            2,
            vec![("DBInstanceIdentifier", format!("trading-db-{env}"))],
        ));
    }
    for (name, ns, metric, op, threshold, period, periods, dims) in expected {
        let out = cw
            .describe_alarms()
            .alarm_names(&name)
            .send()
            .await
            .unwrap();
        let a = out
            .metric_alarms()
            .first()
            .unwrap_or_else(|| panic!("alarm {name} in {region}"));
        assert_eq!(a.namespace(), Some(ns), "{name}");
        assert_eq!(a.metric_name(), Some(metric), "{name}");
        assert_eq!(
            a.comparison_operator().map(|c| c.as_str()),
            Some(op),
            "{name}"
        );
        assert_eq!(a.threshold(), Some(threshold), "{name}");
        assert_eq!(a.period(), Some(period), "{name}");
        assert_eq!(a.evaluation_periods(), Some(periods), "{name}");
        let got: BTreeMap<_, _> = a
            .dimensions()
            .iter()
            .map(|d| {
                (
                    d.name().unwrap().to_string(),
                    d.value().unwrap().to_string(),
                )
            })
            .collect();
        let want: BTreeMap<_, _> = dims.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        assert_eq!(got, want, "{name}");
        assert_eq!(a.alarm_actions(), std::slice::from_ref(&topic), "{name}");
        let tags = cw
            .list_tags_for_resource()
            .resource_arn(a.alarm_arn().unwrap())
            .send()
            .await
            .unwrap();
        assert!(
            tags.tags()
                .iter()
                .any(|t| t.key() == Some("drctl:env") && t.value() == Some(env)),
            "{name} carries the ownership tags"
        );
    }
}

/// No change, and not one mutating call, on a second plan.
async fn assert_converged(run: &Run) {
    let before = run.mutating_calls();
    let plan = run.plan().await.unwrap();
    let changed: Vec<_> = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp || c.adopt)
        .collect();
    assert!(changed.is_empty(), "{changed:#?}");
    assert_eq!(run.mutating_calls(), before);
}

/// Out of band: the primary check's failure threshold and a secondary
/// alarm's threshold; the plan shows both as drift, apply repairs them.
async fn drift_and_repair(run: &Run, alarm: &str) {
    let env = &run.env;
    let r53 = run.aws.route53(PRIMARY);
    let checks = owned_checks(run).await;
    let hc = &checks["global/route53/health-check-primary"];
    r53.update_health_check()
        .health_check_id(hc)
        .failure_threshold(5)
        .send()
        .await
        .unwrap();
    let cw = run.aws.cloudwatch(SECONDARY);
    let name = format!("trading-{alarm}-{env}");
    let a = cw
        .describe_alarms()
        .alarm_names(&name)
        .send()
        .await
        .unwrap();
    let a = a.metric_alarms()[0].clone();
    cw.put_metric_alarm()
        .alarm_name(&name)
        .set_namespace(a.namespace().map(str::to_string))
        .set_metric_name(a.metric_name().map(str::to_string))
        .set_statistic(a.statistic().cloned())
        .set_dimensions(Some(a.dimensions().to_vec()))
        .set_comparison_operator(a.comparison_operator().cloned())
        .threshold(a.threshold().unwrap() + 50.0)
        .set_period(a.period())
        .set_evaluation_periods(a.evaluation_periods())
        .set_treat_missing_data(a.treat_missing_data().map(str::to_string))
        .set_alarm_actions(Some(a.alarm_actions().to_vec()))
        .send()
        .await
        .unwrap();

    let plan = run.plan().await.unwrap();
    let changed: Vec<_> = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .collect();
    assert_eq!(changed.len(), 2, "{changed:#?}");
    let check = plan
        .change(&Address::new("global/route53/health-check-primary"))
        .unwrap();
    assert_eq!(check.action, Action::Update);
    assert!(check.drift);
    assert_eq!(check.fields.len(), 1);
    assert_eq!(check.fields[0].field, "failure_threshold");
    assert_eq!(check.fields[0].before, Some(json!(5)));
    assert!(check.fields[0].drift);
    let alarm_change = plan
        .change(&Address::new(format!(
            "{SECONDARY}/monitoring/{alarm}-alarm"
        )))
        .unwrap();
    assert_eq!(alarm_change.action, Action::Update);
    assert!(alarm_change.drift);
    assert_eq!(alarm_change.fields.len(), 1, "{alarm_change:#?}");
    assert_eq!(alarm_change.fields[0].field, "threshold");
    assert!(alarm_change.fields[0].drift);

    run.apply().await;
    let hc = r53
        .get_health_check()
        .health_check_id(hc)
        .send()
        .await
        .unwrap();
    assert_eq!(
        hc.health_check()
            .unwrap()
            .health_check_config()
            .unwrap()
            .failure_threshold(),
        Some(3)
    );
    let a2 = cw
        .describe_alarms()
        .alarm_names(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(a2.metric_alarms()[0].threshold(), a.threshold());
    assert_converged(run).await;
}

/// Destroys through the engine, recording the order of the deletions.
async fn destroy_in_order(run: &Run) -> Vec<Event> {
    let graph = StackGraph::build(run.specs.clone()).unwrap();
    let cx = Ctx::new(run.env.clone());
    let plan = Engine::new(run.registry.clone(), cx.clone())
        .parallelism(10)
        .plan_destroy(&graph, &run.store().state)
        .await
        .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let engine = Engine::new(run.registry.clone(), cx)
        .parallelism(10)
        .destroy_rules(drctl_stack::kinds::DESTROY_RULES);
    let report = engine
        .apply_reporting(&plan, &graph, Arc::new(Mutex::new(run.store())), tx)
        .await;
    assert!(report.success(), "destroy failed: {report:#?}");
    let mut events = vec![];
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    events
}

/// Records finished deleting before either health check or the zone started.
fn assert_destroy_order(events: &[Event]) {
    let pos = |started: bool, suffix: &str| {
        events
            .iter()
            .position(|e| match e {
                Event::Started { address, .. } if started => address.as_str().ends_with(suffix),
                Event::Finished { address, .. } if !started => address.as_str().ends_with(suffix),
                _ => false,
            })
            .unwrap_or_else(|| panic!("no event for {suffix}: {events:#?}"))
    };
    let records_done = pos(false, "route53/failover-records");
    for then in [
        "route53/health-check-primary",
        "route53/health-check-secondary",
        "route53/zone",
    ] {
        assert!(
            records_done < pos(true, then),
            "records before {then}: {events:#?}"
        );
    }
    for region in REGIONS {
        assert!(
            pos(
                false,
                &format!("{region}/monitoring/dynamodb-throttle-alarm")
            ) < pos(true, &format!("{region}/monitoring/alerts-topic")),
            "alarms before their topic"
        );
    }
}

/// Nothing of the env is left: zone, records (they go with the zone, and
/// were deleted before it), checks, topics, subscriptions, alarms.
async fn assert_nothing_left(run: &Run, domain: &str, zone: &str, checks: &[String; 2]) {
    assert!(run.store().state.resources.is_empty());
    let r53 = run.aws.route53(PRIMARY);
    assert!(r53.get_hosted_zone().id(zone).send().await.is_err());
    assert_eq!(owned_zone(run, domain).await, None);
    for id in checks {
        assert!(r53
            .get_health_check()
            .health_check_id(id)
            .send()
            .await
            .is_err());
    }
    assert!(owned_checks(run).await.is_empty());
    for region in REGIONS {
        let sns = run.aws.sns(region);
        let topic = topic_arn(region, &run.env);
        assert!(sns
            .get_topic_attributes()
            .topic_arn(&topic)
            .send()
            .await
            .is_err());
        let subs = sns.list_subscriptions().send().await.unwrap();
        assert!(
            !subs
                .subscriptions()
                .iter()
                .any(|s| s.topic_arn() == Some(topic.as_str())),
            "subscriptions of {topic} left"
        );
        let names: Vec<String> = ["alb-unhealthy", "rds-cpu", "dynamodb-throttle"]
            .iter()
            .map(|a| format!("trading-{a}-{}", run.env))
            .collect();
        let left = run
            .aws
            .cloudwatch(region)
            .describe_alarms()
            .set_alarm_names(Some(names))
            .send()
            .await
            .unwrap();
        assert!(left.metric_alarms().is_empty(), "{left:#?}");
    }
}

fn set(spec: &mut ResourceSpec, path: &[&str], v: serde_json::Value) {
    let (last, parents) = path.split_last().unwrap();
    let mut m = &mut spec.props;
    for p in parents {
        m = m.get_mut(*p).unwrap().as_object_mut().unwrap();
    }
    m.insert(last.to_string(), v);
}

/// Route53 and monitoring specs of the dev stack with literal targets: an
/// own domain (the dev domain's zone is the end-to-end test's), fake ALB
/// names and alarm dimensions. Nothing refers outside the set.
fn literal_specs(
    env: &str,
    domain: &str,
    targets: &[Target; 2],
    dims: &AlbDims,
) -> Vec<ResourceSpec> {
    let mut specs: Vec<ResourceSpec> = dev_stack(env)
        .into_iter()
        .filter(|s| {
            let a = s.address.as_str();
            a.contains("/route53/") || a.contains("/monitoring/")
        })
        .collect();
    for s in &mut specs {
        let a = s.address.as_str().to_string();
        if a.ends_with("/route53/zone") || a.ends_with("/route53/failover-records") {
            s.name = domain.to_string();
            s.tags.insert("Name".into(), domain.to_string());
            set(s, &["domain_name"], json!(domain));
        }
        for (i, role) in ["primary", "secondary"].iter().enumerate() {
            if a.ends_with(&format!("/route53/health-check-{role}")) {
                set(s, &["fqdn"], json!(targets[i].dns));
            }
            if a.ends_with("/route53/failover-records") {
                set(s, &[role, "alb_dns_name"], json!(targets[i].dns));
                set(s, &[role, "alb_zone_id"], json!(targets[i].zone));
            }
        }
        if a.ends_with("/monitoring/alb-unhealthy-alarm") {
            set(
                s,
                &["dimensions"],
                json!({"LoadBalancer": dims.load_balancer, "TargetGroup": dims.target_group}),
            );
        }
        if a.ends_with("/monitoring/rds-cpu-alarm") {
            set(
                s,
                &["dimensions"],
                json!({"DBInstanceIdentifier": format!("trading-db-{env}")}),
            );
        }
    }
    let addresses: Vec<Address> = specs.iter().map(|s| s.address.clone()).collect();
    for s in &specs {
        for d in s.dependencies() {
            assert!(addresses.contains(&d), "{} needs {d}", s.address);
        }
    }
    specs
}

#[tokio::test]
async fn dns_and_monitoring_with_literal_targets() {
    let env = unique_env("t-dns");
    let domain = format!("{env}.trading.example.com");
    let targets = [
        Target {
            region: PRIMARY,
            dns: format!("trading-alb-{env}-1111.{PRIMARY}.elb.amazonaws.com"),
            zone: "Z35SXDOTRQ7X7K".into(),
        },
        Target {
            region: SECONDARY,
            dns: format!("trading-alb-{env}-2222.{SECONDARY}.elb.amazonaws.com"),
            zone: "Z1H1FL5HABSF5".into(),
        },
    ];
    let dims = AlbDims {
        load_balancer: format!("app/trading-alb-{env}/50dc6c495c0c9188"),
        target_group: format!("targetgroup/trading-tg-{env}/73e2d6bc24d8a067"),
    };
    let specs = literal_specs(&env, &domain, &targets, &dims);
    assert_eq!(specs.len(), 4 + 2 * 5);
    let run = Run::new(&env, specs).await;
    run.apply().await;

    let (zone, checks) = check_route53(&run, &domain, &targets).await;
    for region in REGIONS {
        check_monitoring(&run, region, &dims, true).await;
    }
    assert_converged(&run).await;
    drift_and_repair(&run, "rds-cpu").await;

    let events = destroy_in_order(&run).await;
    assert_destroy_order(&events);
    assert_nothing_left(&run, &domain, &zone, &checks).await;
}

/// The ALB's DNS name and the alarm dimensions of its region, from elbv2.
async fn alb_of(run: &Run, region: &'static str) -> (Target, AlbDims) {
    let elb = run.aws.elbv2(region);
    let lbs = elb
        .describe_load_balancers()
        .names(format!("trading-alb-{}", run.env))
        .send()
        .await
        .unwrap();
    let lb = &lbs.load_balancers()[0];
    let tgs = elb
        .describe_target_groups()
        .names(format!("trading-tg-{}", run.env))
        .send()
        .await
        .unwrap();
    let tg_arn = tgs.target_groups()[0].target_group_arn().unwrap();
    let lb_arn = lb.load_balancer_arn().unwrap();
    (
        Target {
            region,
            dns: lb.dns_name().unwrap().to_string(),
            zone: lb.canonical_hosted_zone_id().unwrap().to_string(),
        },
        AlbDims {
            load_balancer: lb_arn.split_once(":loadbalancer/").unwrap().1.to_string(),
            target_group: tg_arn.rsplit_once(':').unwrap().1.to_string(),
        },
    )
}

#[tokio::test]
async fn dns_and_monitoring_on_the_dev_stack() {
    let env = unique_env("t-dnsx");
    let domain = "dev.trading.example.com".to_string();
    let specs = slice(dev_stack(&env), |a| {
        a.contains("/route53/") || a.contains("/monitoring/")
    });
    let run = Run::new(&env, specs).await;
    run.apply().await;

    let (p, p_dims) = alb_of(&run, PRIMARY).await;
    let (s, s_dims) = alb_of(&run, SECONDARY).await;
    let (zone, checks) = check_route53(&run, &domain, &[p, s]).await;
    check_monitoring(&run, PRIMARY, &p_dims, true).await;
    check_monitoring(&run, SECONDARY, &s_dims, true).await;
    assert_converged(&run).await;
    drift_and_repair(&run, "alb-unhealthy").await;

    let events = destroy_in_order(&run).await;
    assert_destroy_order(&events);
    assert_nothing_left(&run, &domain, &zone, &checks).await;
}
