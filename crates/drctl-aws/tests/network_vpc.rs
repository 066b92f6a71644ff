//! The VPC against the emulator: create with the properties STACK.md asks,
//! a second apply that changes nothing, drift repaired, destroy.

use drctl_testkit::{dev_stack, slice, unique_env, Run};

#[tokio::test]
async fn vpc_lifecycle() {
    let env = unique_env("t-vpc");
    let specs = slice(dev_stack(&env), |a| a.ends_with("/network/vpc"));
    assert_eq!(specs.len(), 2);
    let run = Run::new(&env, specs).await;
    run.apply().await;
    let ec2 = run.aws.ec2("us-west-2");
    let id = run
        .store()
        .state
        .resources
        .values()
        .find(|r| r.region.as_deref() == Some("us-west-2"))
        .unwrap()
        .id
        .clone();
    let vpc = ec2.describe_vpcs().vpc_ids(&id).send().await.unwrap();
    let vpc = &vpc.vpcs()[0];
    assert_eq!(vpc.cidr_block(), Some("10.21.0.0/16"));
    let tags: std::collections::BTreeMap<_, _> = vpc
        .tags()
        .iter()
        .map(|t| (t.key().unwrap(), t.value().unwrap()))
        .collect();
    assert_eq!(tags["Name"], format!("trading-vpc-{env}"));
    assert_eq!(tags["drctl:env"], env);
    let hostnames = ec2
        .describe_vpc_attribute()
        .vpc_id(&id)
        .attribute(aws_sdk_ec2::types::VpcAttributeName::EnableDnsHostnames)
        .send()
        .await
        .unwrap();
    assert_eq!(
        hostnames.enable_dns_hostnames().and_then(|b| b.value()),
        Some(true)
    );

    // No changes on a second run, and no mutating call.
    let before = run.mutating_calls();
    let plan = run.plan().await.unwrap();
    assert!(!plan.has_changes(), "{plan:#?}");
    assert_eq!(run.mutating_calls(), before);

    // Drift: DNS hostnames switched off out of band.
    ec2.modify_vpc_attribute()
        .vpc_id(&id)
        .enable_dns_hostnames(
            aws_sdk_ec2::types::AttributeBooleanValue::builder()
                .value(false)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let plan = run.plan().await.unwrap();
    let change = plan
        .changes
        .iter()
        .find(|c| c.region.as_deref() == Some("us-west-2"))
        .unwrap();
    assert_eq!(change.fields.len(), 1);
    assert!(change.fields[0].drift);
    run.apply().await;
    assert!(!run.plan().await.unwrap().has_changes());

    run.destroy().await;
    assert!(run.store().state.resources.is_empty());
    let left = ec2.describe_vpcs().vpc_ids(&id).send().await;
    assert!(left.is_err() || left.unwrap().vpcs().is_empty());
}

/// A recorded VPC that lost its `drctl:env` tag is not in the region's
/// batched answer; it must still be found (by id) and refused as not ours,
/// never planned as a second VPC.
#[tokio::test]
async fn a_recorded_vpc_without_its_env_tag_is_refused_not_created_again() {
    let env = unique_env("t-vpctag");
    let specs = slice(dev_stack(&env), |a| a == "us-east-1/network/vpc");
    let run = Run::new(&env, specs).await;
    run.apply().await;
    let id = run
        .store()
        .state
        .resources
        .values()
        .next()
        .unwrap()
        .id
        .clone();
    let ec2 = run.aws.ec2("us-east-1");
    ec2.delete_tags()
        .resources(&id)
        .tags(aws_sdk_ec2::types::Tag::builder().key("drctl:env").build())
        .send()
        .await
        .unwrap();

    let err = run
        .plan()
        .await
        .expect_err("a VPC that is not ours any more");
    let text = err.to_string();
    assert!(text.contains(&id) && text.contains("drctl:env"), "{text}");

    // Tag restored: ours again, nothing to do, then cleaned up.
    ec2.create_tags()
        .resources(&id)
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("drctl:env")
                .value(&env)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(!run.plan().await.unwrap().has_changes());
    run.destroy().await;
}
