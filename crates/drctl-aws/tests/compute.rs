//! Compute (STACK.md section 3) against the emulator, end to end with the
//! network, security groups and IAM it needs: ALB, target group, listener,
//! launch template, Auto Scaling group and CPU policy with the properties
//! STACK.md lists; a second plan that changes nothing; drift on the ASG's
//! max size shown and repaired; a new instance type rolled out as a new
//! template version the ASG moves to (update, not replace); destroy in the
//! right order, leaving nothing.

use drctl_core::model::Address;
use drctl_core::ordering::{destroy_waits, Doomed};
use drctl_core::plan::{Action, Plan};
use drctl_stack::kinds;
use drctl_testkit::{dev_stack, slice, unique_env, Run};
use serde_json::json;
use std::collections::BTreeMap;

const R: &str = "us-east-1";

fn id_of(run: &Run, path: &str) -> String {
    run.store()
        .state
        .resources
        .get(&Address::new(format!("{R}/{path}")))
        .unwrap_or_else(|| panic!("{path} is in the state"))
        .id
        .clone()
}

fn change<'a>(plan: &'a Plan, path: &str) -> &'a drctl_core::plan::ResourceChange {
    plan.change(&Address::new(format!("{R}/{path}")))
        .unwrap_or_else(|| panic!("{path} is in the plan"))
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test]
async fn compute_lifecycle() {
    let env = unique_env("t-cmp");
    let specs = slice(dev_stack(&env), |a| a.starts_with("us-east-1/compute/"));
    assert!(specs
        .iter()
        .all(|s| s.region.as_deref() != Some("us-west-2")));
    let mut run = Run::new(&env, specs).await;
    run.apply().await;

    let elb = run.aws.elbv2(R);
    let ec2 = run.aws.ec2(R);
    let asg = run.aws.autoscaling(R);
    let public = sorted(vec![
        id_of(&run, "network/public-subnet-1"),
        id_of(&run, "network/public-subnet-2"),
    ]);
    let private = sorted(vec![
        id_of(&run, "network/private-subnet-1"),
        id_of(&run, "network/private-subnet-2"),
    ]);
    let vpc = id_of(&run, "network/vpc");
    let alb_sg = id_of(&run, "security/alb-sg");
    let ec2_sg = id_of(&run, "security/ec2-sg");

    // ALB: internet-facing, application, in the two public subnets, ALB SG.
    let lbs = elb
        .describe_load_balancers()
        .names(format!("trading-alb-{env}"))
        .send()
        .await
        .unwrap();
    let [lb] = lbs.load_balancers() else {
        panic!("one ALB")
    };
    let lb_arn = lb.load_balancer_arn().unwrap().to_string();
    assert_eq!(lb_arn, id_of(&run, "compute/alb"));
    assert_eq!(lb.scheme().unwrap().as_str(), "internet-facing");
    assert_eq!(lb.r#type().unwrap().as_str(), "application");
    let lb_subnets = sorted(
        lb.availability_zones()
            .iter()
            .map(|z| z.subnet_id().unwrap().to_string())
            .collect(),
    );
    assert_eq!(lb_subnets, public);
    assert_eq!(lb.security_groups(), std::slice::from_ref(&alb_sg));
    let tags = elb
        .describe_tags()
        .resource_arns(&lb_arn)
        .send()
        .await
        .unwrap();
    let tags: BTreeMap<_, _> = tags.tag_descriptions()[0]
        .tags()
        .iter()
        .map(|t| (t.key().unwrap().to_string(), t.value().unwrap().to_string()))
        .collect();
    assert_eq!(tags["drctl:env"], env);
    assert_eq!(tags["drctl:address"], "us-east-1/compute/alb");
    let attrs = &run.store().state.resources[&Address::new(format!("{R}/compute/alb"))].attrs;
    assert_eq!(attrs["dns_name"], json!(lb.dns_name().unwrap()));
    assert!(attrs["arn_suffix"]
        .as_str()
        .unwrap()
        .starts_with(&format!("app/trading-alb-{env}/")));

    // Target group: HTTP:80 in the VPC, health check on /health.
    let tgs = elb
        .describe_target_groups()
        .names(format!("trading-tg-{env}"))
        .send()
        .await
        .unwrap();
    let [tg] = tgs.target_groups() else {
        panic!("one TG")
    };
    let tg_arn = tg.target_group_arn().unwrap().to_string();
    assert_eq!(tg.protocol().unwrap().as_str(), "HTTP");
    assert_eq!(tg.port(), Some(80));
    assert_eq!(tg.vpc_id(), Some(vpc.as_str()));
    assert_eq!(tg.health_check_path(), Some("/health"));
    assert_eq!(tg.health_check_protocol().unwrap().as_str(), "HTTP");
    assert_eq!(tg.matcher().and_then(|m| m.http_code()), Some("200"));

    // Listener: HTTP 80 forwarding to the target group.
    let ls = elb
        .describe_listeners()
        .load_balancer_arn(&lb_arn)
        .send()
        .await
        .unwrap();
    let [l] = ls.listeners() else {
        panic!("one listener")
    };
    assert_eq!(l.port(), Some(80));
    assert_eq!(l.protocol().unwrap().as_str(), "HTTP");
    let action = &l.default_actions()[0];
    assert_eq!(action.r#type().unwrap().as_str(), "forward");
    assert_eq!(action.target_group_arn(), Some(tg_arn.as_str()));

    // Launch template: instance type, profile, EC2 SG, user data serving /health.
    let lt_id = id_of(&run, "compute/launch-template");
    let check_template = |version: i64, instance_type: &'static str| {
        let ec2 = ec2.clone();
        let lt_id = lt_id.clone();
        let env = env.clone();
        let ec2_sg = ec2_sg.clone();
        async move {
            let lts = ec2
                .describe_launch_templates()
                .launch_template_ids(&lt_id)
                .send()
                .await
                .unwrap();
            let lt = &lts.launch_templates()[0];
            assert_eq!(
                lt.launch_template_name(),
                Some(format!("trading-lt-{env}").as_str())
            );
            assert_eq!(lt.default_version_number(), Some(version));
            let v = ec2
                .describe_launch_template_versions()
                .launch_template_id(&lt_id)
                .versions(version.to_string())
                .send()
                .await
                .unwrap();
            let data = v.launch_template_versions()[0]
                .launch_template_data()
                .unwrap()
                .clone();
            assert_eq!(data.instance_type().unwrap().as_str(), instance_type);
            assert_eq!(
                data.iam_instance_profile().and_then(|p| p.name()),
                Some(format!("trading-ec2-profile-{env}").as_str())
            );
            assert_eq!(data.security_group_ids(), std::slice::from_ref(&ec2_sg));
            assert!(data.image_id().unwrap().starts_with("ami-"));
            let ud = aws_smithy_types::base64::decode(data.user_data().unwrap()).unwrap();
            let ud = String::from_utf8(ud).unwrap();
            assert!(ud.contains("location = /health"), "{ud}");
            assert!(ud.contains("return 200"), "{ud}");
            let instance_tags = data
                .tag_specifications()
                .iter()
                .find(|t| t.resource_type().map(|r| r.as_str()) == Some("instance"))
                .expect("instances are tagged");
            assert!(instance_tags
                .tags()
                .iter()
                .any(|t| t.key() == Some("drctl:env") && t.value() == Some(env.as_str())));
        }
    };
    check_template(1, "t3.micro").await;

    // ASG: private subnets, ELB health checks, 1/2/1 from the plan, the TG.
    let check_group = |max: i32, version: &'static str| {
        let asg = asg.clone();
        let env = env.clone();
        let private = private.clone();
        let tg_arn = tg_arn.clone();
        let lt_id = lt_id.clone();
        async move {
            let gs = asg
                .describe_auto_scaling_groups()
                .auto_scaling_group_names(format!("trading-asg-{env}"))
                .send()
                .await
                .unwrap();
            let [g] = gs.auto_scaling_groups() else {
                panic!("one ASG")
            };
            let subnets = sorted(
                g.vpc_zone_identifier()
                    .unwrap()
                    .split(',')
                    .map(str::to_string)
                    .collect(),
            );
            assert_eq!(subnets, private);
            assert_eq!(g.health_check_type(), Some("ELB"));
            assert_eq!(g.health_check_grace_period(), Some(300));
            assert_eq!(
                (g.min_size(), g.max_size(), g.desired_capacity()),
                (Some(1), Some(max), Some(1))
            );
            assert_eq!(g.target_group_arns(), [tg_arn]);
            let lt = g.launch_template().unwrap();
            assert_eq!(lt.launch_template_id(), Some(lt_id.as_str()));
            assert_eq!(lt.version(), Some(version));
            assert!(g
                .tags()
                .iter()
                .all(|t| t.propagate_at_launch() == Some(true)));
            assert!(g
                .tags()
                .iter()
                .any(|t| t.key() == Some("drctl:env") && t.value() == Some(env.as_str())));
        }
    };
    check_group(2, "1").await;
    // Its instance carries the ownership tags (PropagateAtLaunch).
    let instances = ec2
        .describe_instances()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:drctl:env")
                .values(&env)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let launched: Vec<_> = instances
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .collect();
    assert_eq!(launched.len(), 1, "desired capacity 1");
    assert!(private.contains(&launched[0].subnet_id().unwrap().to_string()));

    // CPU target tracking at 70 %.
    let ps = asg
        .describe_policies()
        .auto_scaling_group_name(format!("trading-asg-{env}"))
        .send()
        .await
        .unwrap();
    let [p] = ps.scaling_policies() else {
        panic!("one policy")
    };
    assert_eq!(
        p.policy_name(),
        Some(format!("trading-cpu-policy-{env}").as_str())
    );
    assert_eq!(p.policy_type(), Some("TargetTrackingScaling"));
    let tt = p.target_tracking_configuration().unwrap();
    assert_eq!(
        tt.predefined_metric_specification()
            .and_then(|m| m.predefined_metric_type())
            .map(|m| m.as_str()),
        Some("ASGAverageCPUUtilization")
    );
    assert_eq!(tt.target_value(), Some(70.0));

    // No change on a second run, and no mutating call.
    let before = run.mutating_calls();
    let plan = run.plan().await.unwrap();
    assert!(!plan.has_changes(), "{plan:#?}");
    assert_eq!(run.mutating_calls(), before);

    // Drift: the ASG's max size changed out of band.
    asg.update_auto_scaling_group()
        .auto_scaling_group_name(format!("trading-asg-{env}"))
        .max_size(5)
        .send()
        .await
        .unwrap();
    let plan = run.plan().await.unwrap();
    let c = change(&plan, "compute/asg");
    assert_eq!(c.action, Action::Update);
    assert_eq!(c.fields.len(), 1, "{c:#?}");
    assert_eq!(c.fields[0].field, "max_size");
    assert_eq!(c.fields[0].before, Some(json!(5)));
    assert!(c.fields[0].drift);
    assert_eq!(plan.counts().change, 1, "only the ASG");
    run.apply().await;
    check_group(2, "1").await;
    assert!(!run.plan().await.unwrap().has_changes());

    // A new instance type: a new template version, and the ASG moves to it
    // in the same apply (update, not replace).
    for s in run.specs.iter_mut() {
        if s.address.as_str() == "us-east-1/compute/launch-template" {
            s.props.insert("instance_type".into(), json!("t3.small"));
        }
    }
    let plan = run.plan().await.unwrap();
    assert_eq!(
        change(&plan, "compute/launch-template").action,
        Action::Update
    );
    let c = change(&plan, "compute/asg");
    assert_eq!(c.action, Action::Update, "{c:#?}");
    assert_eq!(c.fields[0].field, "launch_template_version");
    assert!(plan.changes.iter().all(|c| c.action != Action::Replace));
    assert_eq!(plan.counts().change, 2);
    run.apply().await;
    check_template(2, "t3.small").await;
    check_group(2, "2").await;
    let before = run.mutating_calls();
    assert!(!run.plan().await.unwrap().has_changes());
    assert_eq!(run.mutating_calls(), before);

    // Destroy: dependents and the destroy rules first, then nothing left.
    let plan = run.destroy().await;
    let doomed: Vec<Doomed> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Delete)
        .map(|c| Doomed {
            address: c.address.clone(),
            kind: c.kind.clone(),
            region: c.region.clone(),
            dependencies: c.dependencies.clone(),
        })
        .collect();
    let waits = destroy_waits(&doomed, kinds::DESTROY_RULES);
    let a = |p: &str| Address::new(format!("{R}/{p}"));
    let before = |first: &str, then: &str| {
        assert!(
            waits[&a(then)].contains(&a(first)),
            "{first} is deleted before {then}"
        )
    };
    before("compute/asg", "compute/launch-template");
    before("compute/asg", "compute/tg");
    before("compute/listener", "compute/tg");
    before("compute/listener", "compute/alb");
    before("compute/cpu-policy", "compute/asg");
    assert!(run.store().state.resources.is_empty());

    let owned = |tags: Vec<(Option<String>, Option<String>)>| {
        tags.iter()
            .any(|(k, v)| k.as_deref() == Some("drctl:env") && v.as_deref() == Some(env.as_str()))
    };
    let lbs = elb.describe_load_balancers().send().await.unwrap();
    for lb in lbs.load_balancers() {
        let t = elb
            .describe_tags()
            .resource_arns(lb.load_balancer_arn().unwrap())
            .send()
            .await
            .unwrap();
        let t: Vec<_> = t
            .tag_descriptions()
            .iter()
            .flat_map(|d| d.tags())
            .map(|t| (t.key().map(String::from), t.value().map(String::from)))
            .collect();
        assert!(!owned(t), "ALB left: {:?}", lb.load_balancer_name());
    }
    let tgs = elb.describe_target_groups().send().await.unwrap();
    assert!(tgs
        .target_groups()
        .iter()
        .all(|t| t.target_group_name() != Some(format!("trading-tg-{env}").as_str())));
    let lts = ec2
        .describe_launch_templates()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:drctl:env")
                .values(&env)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(lts.launch_templates().is_empty(), "{lts:?}");
    let gs = asg
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(format!("trading-asg-{env}"))
        .send()
        .await
        .unwrap();
    assert!(gs.auto_scaling_groups().is_empty());
    let policies = asg
        .describe_policies()
        .auto_scaling_group_name(format!("trading-asg-{env}"))
        .send()
        .await;
    assert!(policies
        .map(|p| p.scaling_policies().is_empty())
        .unwrap_or(true));
    // The group's instances (tagged through PropagateAtLaunch) went with it.
    let instances = ec2
        .describe_instances()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:drctl:env")
                .values(&env)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let alive: Vec<_> = instances
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter(|i| {
            !matches!(
                i.state().and_then(|s| s.name()).map(|n| n.as_str()),
                Some("terminated" | "shutting-down")
            )
        })
        .map(|i| i.instance_id().unwrap_or_default().to_string())
        .collect();
    assert!(alive.is_empty(), "instances left: {alive:?}");
}

/// A same-named target group without this env's tags is reported as a
/// clash and left alone; no create is attempted.
#[tokio::test]
async fn a_foreign_target_group_with_the_name_is_a_clash() {
    let env = unique_env("t-cmpc");
    let specs = slice(dev_stack(&env), |a| a == "us-east-1/compute/tg");
    let run = Run::new(&env, specs).await;
    let ec2 = run.aws.ec2(R);
    let elb = run.aws.elbv2(R);
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.99.0.0/16")
        .send()
        .await
        .unwrap();
    let vpc_id = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    let tg = elb
        .create_target_group()
        .name(format!("trading-tg-{env}"))
        .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
        .port(80)
        .vpc_id(&vpc_id)
        .send()
        .await
        .unwrap();
    let arn = tg.target_groups()[0]
        .target_group_arn()
        .unwrap()
        .to_string();

    let before = run.mutating_calls();
    let err = run.plan().await.unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("us-east-1/compute/tg") && msg.contains(&arn),
        "{msg}"
    );
    assert!(msg.contains("no drctl:env tag"), "{msg}");
    assert_eq!(run.mutating_calls(), before);

    elb.delete_target_group()
        .target_group_arn(&arn)
        .send()
        .await
        .unwrap();
    ec2.delete_vpc().vpc_id(&vpc_id).send().await.unwrap();
}
