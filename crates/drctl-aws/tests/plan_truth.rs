//! Plan correctness against the LocalStack harness (issue 12): tags are
//! desired state, a child whose identity is one of its fields is replaced
//! when that field changes, and no dependent shows a change apply will not
//! make. Every `Run::apply` also checks that the mutating calls it made
//! match the plan's actions (`drctl_testkit::assert_calls_match_plan`).

use drctl_core::model::Address;
use drctl_core::plan::{Action, Plan};
use drctl_testkit::{dev_stack, slice, unique_env, Run, ACCOUNT};
use std::collections::BTreeMap;

const PRIMARY: &str = "us-east-1";

fn change<'a>(plan: &'a Plan, address: &str) -> &'a drctl_core::plan::ResourceChange {
    plan.change(&Address::new(address))
        .unwrap_or_else(|| panic!("no change for {address}: {plan:#?}"))
}

fn acting(plan: &Plan) -> Vec<(String, Action)> {
    plan.changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .map(|c| (c.address.to_string(), c.action))
        .collect()
}

/// A second plan changes nothing and calls nothing that mutates.
async fn assert_converged(run: &Run) {
    let before = run.mutating_calls();
    let plan = run.plan().await.unwrap();
    assert!(!plan.has_changes(), "{:?}", acting(&plan));
    assert_eq!(run.mutating_calls(), before, "planning must not mutate");
}

async fn vpc_tags(run: &Run, id: &str) -> BTreeMap<String, String> {
    let out = run
        .aws
        .ec2(PRIMARY)
        .describe_vpcs()
        .vpc_ids(id)
        .send()
        .await
        .unwrap();
    drctl_aws::tags::from_ec2(out.vpcs()[0].tags())
}

async fn role_tags(run: &Run, name: &str) -> BTreeMap<String, String> {
    let out = run
        .aws
        .iam(PRIMARY)
        .list_role_tags()
        .role_name(name)
        .send()
        .await
        .unwrap();
    out.tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

async fn secret_tags(run: &Run, name: &str) -> BTreeMap<String, String> {
    let d = run
        .aws
        .secretsmanager(PRIMARY)
        .describe_secret()
        .secret_id(name)
        .send()
        .await
        .unwrap();
    d.tags()
        .iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
        .collect()
}

async fn bucket_tags(run: &Run, name: &str) -> BTreeMap<String, String> {
    let out = run
        .aws
        .s3(PRIMARY)
        .get_bucket_tagging()
        .bucket(name)
        .send()
        .await
        .unwrap();
    out.tag_set()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

async fn table_tags(run: &Run, arn: &str) -> BTreeMap<String, String> {
    let out = run
        .aws
        .dynamodb(PRIMARY)
        .list_tags_of_resource()
        .resource_arn(arn)
        .send()
        .await
        .unwrap();
    out.tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

/// Issue 12, case 1: tags changed by hand are drift, a `[tags]` change is an
/// in-place update of every taggable resource, and apply sets exactly the
/// desired tags with tag calls only.
#[tokio::test(flavor = "multi_thread")]
async fn tags_are_desired_state() {
    let env = unique_env("t-tags");
    let vpc = format!("{PRIMARY}/network/vpc");
    let role = "global/iam/ec2-role".to_string();
    let secret = format!("{PRIMARY}/database/password-secret");
    let bucket = format!("{PRIMARY}/storage/data-bucket");
    let table = format!("{PRIMARY}/dynamodb/sessions-table");
    let topic = format!("{PRIMARY}/monitoring/alerts-topic");
    let wanted = [&vpc, &role, &secret, &bucket, &table, &topic];
    let mut specs = slice(dev_stack(&env), |a| wanted.iter().any(|w| *w == a));
    for s in &mut specs {
        if s.kind == drctl_stack::kinds::SECRET {
            s.props
                .insert("force_delete_without_recovery".into(), true.into());
        }
    }
    assert!(
        wanted
            .iter()
            .all(|w| specs.iter().any(|s| s.address.as_str() == w.as_str())),
        "{:?}",
        specs.iter().map(|s| &s.address).collect::<Vec<_>>()
    );
    let mut run = Run::new(&env, specs.clone()).await;
    run.apply().await;
    assert_converged(&run).await;
    let state = run.store().state;
    let id = |a: &str| state.resources[&Address::new(a)].id.clone();
    let (vpc_id, role_name, table_arn) = (
        id(&vpc),
        id(&role),
        state.resources[&Address::new(&table)].attrs["arn"]
            .as_str()
            .unwrap()
            .to_string(),
    );
    let secret_name = format!("trading-db-password-{env}");
    let bucket_name = format!("trading-data-{env}-{ACCOUNT}");
    let want_name = vpc_tags(&run, &vpc_id).await["Name"].clone();
    assert_eq!(
        vpc_tags(&run, &vpc_id)
            .await
            .get("CostCenter")
            .map(String::as_str),
        Some("development")
    );

    // (a) By hand: the VPC loses CostCenter and gets another Name; the role
    // gets a tag drctl does not manage; the secret's CostCenter changes.
    let ec2 = run.aws.ec2(PRIMARY);
    ec2.delete_tags()
        .resources(&vpc_id)
        .tags(aws_sdk_ec2::types::Tag::builder().key("CostCenter").build())
        .send()
        .await
        .unwrap();
    ec2.create_tags()
        .resources(&vpc_id)
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("Name")
                .value("renamed-by-hand")
                .build(),
        )
        .send()
        .await
        .unwrap();
    run.aws
        .iam(PRIMARY)
        .tag_role()
        .role_name(&role_name)
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("Owner")
                .value("someone")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    run.aws
        .secretsmanager(PRIMARY)
        .tag_resource()
        .secret_id(&secret_name)
        .tags(
            aws_sdk_secretsmanager::types::Tag::builder()
                .key("CostCenter")
                .value("hand-edited")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let plan = run.plan().await.unwrap();
    let mut drifted: Vec<String> = Vec::new();
    for c in plan.changes.iter().filter(|c| c.action != Action::NoOp) {
        assert_eq!(c.action, Action::Update, "{c:?}");
        assert!(c.drift, "changed outside of drctl: {c:?}");
        assert_eq!(
            c.fields
                .iter()
                .map(|f| f.field.as_str())
                .collect::<Vec<_>>(),
            ["tags"],
            "{c:?}"
        );
        drifted.push(c.address.to_string());
    }
    drifted.sort();
    let mut expected = vec![vpc.clone(), role.clone(), secret.clone()];
    expected.sort();
    assert_eq!(drifted, expected);
    // Apply: tag calls only (checked by Run::apply), exactly the desired tags.
    run.apply().await;
    let t = vpc_tags(&run, &vpc_id).await;
    assert_eq!(t.get("CostCenter").map(String::as_str), Some("development"));
    assert_eq!(t["Name"], want_name);
    assert!(!role_tags(&run, &role_name).await.contains_key("Owner"));
    assert_eq!(
        secret_tags(&run, &secret_name)
            .await
            .get("CostCenter")
            .map(String::as_str),
        Some("development")
    );
    assert_converged(&run).await;

    // (b) The plan file's [tags]: a value changed and a tag added. Every
    // taggable resource is updated in place (not drift), then converged.
    for s in &mut specs {
        s.tags.insert("CostCenter".into(), "finance".into());
        s.tags.insert("Team".into(), "dr".into());
    }
    run.specs = specs.clone();
    let plan = run.plan().await.unwrap();
    for a in wanted {
        let c = change(&plan, a);
        assert_eq!((c.action, c.drift), (Action::Update, false), "{c:?}");
    }
    run.apply().await;
    let want = |t: &BTreeMap<String, String>| {
        t.get("CostCenter").map(String::as_str) == Some("finance")
            && t.get("Team").map(String::as_str) == Some("dr")
    };
    assert!(want(&vpc_tags(&run, &vpc_id).await));
    assert!(want(&role_tags(&run, &role_name).await));
    assert!(want(&secret_tags(&run, &secret_name).await));
    assert!(want(&bucket_tags(&run, &bucket_name).await));
    assert!(want(&table_tags(&run, &table_arn).await));
    assert_converged(&run).await;

    // A tag dropped from [tags] is removed from the cloud.
    for s in &mut specs {
        s.tags.remove("Team");
    }
    run.specs = specs;
    run.apply().await;
    assert!(!vpc_tags(&run, &vpc_id).await.contains_key("Team"));
    assert!(!bucket_tags(&run, &bucket_name).await.contains_key("Team"));
    assert_converged(&run).await;
    run.destroy().await;
}

/// Issue 12, case 2: a changed alert email replaces the subscription
/// (`-/+` with the reason): afterwards exactly one, to the new address.
#[tokio::test(flavor = "multi_thread")]
async fn a_changed_alert_email_replaces_the_subscription() {
    let env = unique_env("t-sub");
    let sub = format!("{PRIMARY}/monitoring/email-subscription");
    let mut specs = slice(dev_stack(&env), |a| a == sub);
    let mut run = Run::new(&env, specs.clone()).await;
    run.apply().await;
    let topic_arn = run.store().state.resources
        [&Address::new(format!("{PRIMARY}/monitoring/alerts-topic"))]
        .id
        .clone();
    let endpoints = || async {
        let out = run
            .aws
            .sns(PRIMARY)
            .list_subscriptions_by_topic()
            .topic_arn(&topic_arn)
            .send()
            .await
            .unwrap();
        let mut e: Vec<String> = out
            .subscriptions()
            .iter()
            .filter(|s| s.protocol() == Some("email"))
            .filter_map(|s| s.endpoint().map(str::to_string))
            .collect();
        e.sort();
        e
    };
    let old = endpoints().await;
    assert_eq!(old.len(), 1, "{old:?}");

    for s in &mut specs {
        if s.address.as_str() == sub {
            s.props
                .insert("endpoint".into(), "oncall-new@example.com".into());
        }
    }
    run.specs = specs;
    let plan = run.plan().await.unwrap();
    let c = change(&plan, &sub);
    assert_eq!(c.action, Action::Replace, "{c:?}");
    assert!(
        c.reasons.iter().any(|r| r.starts_with("endpoint:")),
        "{:?}",
        c.reasons
    );
    assert_eq!(acting(&plan), vec![(sub.clone(), Action::Replace)]);
    run.apply().await;
    let now = {
        let out = run
            .aws
            .sns(PRIMARY)
            .list_subscriptions_by_topic()
            .topic_arn(&topic_arn)
            .send()
            .await
            .unwrap();
        out.subscriptions()
            .iter()
            .filter(|s| s.protocol() == Some("email"))
            .filter_map(|s| s.endpoint().map(str::to_string))
            .collect::<Vec<_>>()
    };
    assert_eq!(now, vec!["oncall-new@example.com".to_string()]);
    assert_converged(&run).await;
    run.destroy().await;
}

/// Issue 12, case 3: a secret scheduled for deletion out of band is shown
/// as `+` (to be restored) and nothing else: the DB that refers to its ARN
/// shows no change, since a restore keeps the ARN; apply calls Secrets
/// Manager only.
#[tokio::test(flavor = "multi_thread")]
async fn a_restored_secret_changes_nothing_next_to_it() {
    let env = unique_env("t-rst");
    let db = format!("{PRIMARY}/database/db");
    let secret = format!("{PRIMARY}/database/password-secret");
    let mut specs = slice(dev_stack(&env), |a| a == db);
    for s in &mut specs {
        // drctl's own destroy frees the name at once; the hand-made
        // deletion below keeps a recovery window.
        if s.kind == drctl_stack::kinds::SECRET {
            s.props
                .insert("force_delete_without_recovery".into(), true.into());
        }
        if s.kind == drctl_stack::kinds::DB_INSTANCE {
            s.props.insert("deletion_protection".into(), false.into());
        }
    }
    let run = Run::new(&env, specs).await;
    run.apply().await;
    assert_converged(&run).await;
    let sm = run.aws.secretsmanager(PRIMARY);
    sm.delete_secret()
        .secret_id(format!("trading-db-password-{env}"))
        .recovery_window_in_days(7)
        .send()
        .await
        .unwrap();
    let plan = run.plan().await.unwrap();
    let c = change(&plan, &secret);
    assert_eq!(c.action, Action::Create, "{c:?}");
    assert!(c.reasons.iter().any(|r| r.contains("deleted outside")));
    assert_eq!(
        acting(&plan),
        vec![(secret.clone(), Action::Create)],
        "nothing but the secret: {:#?}",
        change(&plan, &db)
    );
    // Run::apply checks that no RDS call is made.
    run.apply().await;
    let d = sm
        .describe_secret()
        .secret_id(format!("trading-db-password-{env}"))
        .send()
        .await
        .unwrap();
    assert!(d.deleted_date().is_none(), "restored");
    assert_converged(&run).await;
    run.destroy().await;
}
