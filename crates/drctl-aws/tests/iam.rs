//! IAM (STACK.md section 6) against the emulator: the EC2 role with its
//! least-privilege inline policy, the instance profile holding it, the S3
//! replication role; a second plan that changes nothing; drift (a widened
//! policy, a role removed from the profile) shown and repaired; destroy.

use drctl_aws::iam::role::parse_policy;
use drctl_testkit::{dev_stack, slice, unique_env, Run, ACCOUNT};
use serde_json::{json, Value};
use std::collections::BTreeMap;

fn as_list(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        Value::String(s) => vec![s.clone()],
        _ => vec![],
    }
}

async fn role_tags(iam: &aws_sdk_iam::Client, name: &str) -> BTreeMap<String, String> {
    iam.list_role_tags()
        .role_name(name)
        .send()
        .await
        .unwrap()
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

#[tokio::test]
async fn iam_lifecycle() {
    let env = unique_env("t-iam");
    let specs = slice(dev_stack(&env), |a| a.starts_with("global/iam/"));
    assert_eq!(specs.len(), 3, "two roles and a profile");
    let run = Run::new(&env, specs).await;
    run.apply().await;
    let iam = run.aws.iam("us-east-1");

    // EC2 role: trusted by EC2, tagged, one inline policy naming exactly
    // this env's table and bucket ARNs.
    let ec2_role = format!("trading-ec2-role-{env}");
    let role = iam.get_role().role_name(&ec2_role).send().await.unwrap();
    let role = role.role().unwrap();
    let trust = parse_policy(role.assume_role_policy_document().unwrap()).unwrap();
    let stmt = &trust["Statement"][0];
    assert_eq!(stmt["Effect"], "Allow");
    assert_eq!(
        as_list(&stmt["Principal"]["Service"]),
        ["ec2.amazonaws.com"]
    );
    assert_eq!(as_list(&stmt["Action"]), ["sts:AssumeRole"]);
    let tags = role_tags(&iam, &ec2_role).await;
    assert_eq!(tags["drctl:env"], env);
    assert_eq!(tags["drctl:address"], "global/iam/ec2-role");
    assert_eq!(tags["Name"], ec2_role);
    assert_eq!(tags["Application"], "TradingPlatform");

    let names = iam
        .list_role_policies()
        .role_name(&ec2_role)
        .send()
        .await
        .unwrap();
    assert_eq!(names.policy_names(), ["trading-app-access"]);
    let attached = iam
        .list_attached_role_policies()
        .role_name(&ec2_role)
        .send()
        .await
        .unwrap();
    assert!(attached.attached_policies().is_empty(), "no managed policy");
    let doc = iam
        .get_role_policy()
        .role_name(&ec2_role)
        .policy_name("trading-app-access")
        .send()
        .await
        .unwrap();
    let policy = parse_policy(doc.policy_document()).unwrap();
    let mut resources: Vec<String> = vec![];
    for s in policy["Statement"].as_array().unwrap() {
        assert_eq!(s["Effect"], "Allow");
        for a in as_list(&s["Action"]) {
            assert!(!a.contains('*'), "wildcard action {a}");
        }
        resources.extend(as_list(&s["Resource"]));
    }
    resources.sort();
    let bucket = format!("trading-data-{env}-{ACCOUNT}");
    let mut expected = vec![
        format!("arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/trading-sessions-{env}"),
        format!("arn:aws:dynamodb:us-west-2:{ACCOUNT}:table/trading-sessions-{env}"),
        format!("arn:aws:s3:::{bucket}"),
        format!("arn:aws:s3:::{bucket}/*"),
    ];
    expected.sort();
    assert_eq!(resources, expected, "exactly this env's table and bucket");

    // The instance profile holds the role.
    let profile_name = format!("trading-ec2-profile-{env}");
    let p = iam
        .get_instance_profile()
        .instance_profile_name(&profile_name)
        .send()
        .await
        .unwrap();
    let p = p.instance_profile().unwrap();
    let roles: Vec<_> = p.roles().iter().map(|r| r.role_name()).collect();
    assert_eq!(roles, [ec2_role.as_str()]);
    let ptags: BTreeMap<_, _> = iam
        .list_instance_profile_tags()
        .instance_profile_name(&profile_name)
        .send()
        .await
        .unwrap()
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    assert_eq!(ptags["drctl:address"], "global/iam/ec2-profile");

    // The replication role: trusted by S3, replication actions only.
    let repl = format!("trading-s3-replication-role-{env}");
    let r = iam.get_role().role_name(&repl).send().await.unwrap();
    let trust = parse_policy(r.role().unwrap().assume_role_policy_document().unwrap()).unwrap();
    assert_eq!(
        as_list(&trust["Statement"][0]["Principal"]["Service"]),
        ["s3.amazonaws.com"]
    );
    let doc = iam
        .get_role_policy()
        .role_name(&repl)
        .policy_name("trading-s3-replication")
        .send()
        .await
        .unwrap();
    let policy = parse_policy(doc.policy_document()).unwrap();
    for s in policy["Statement"].as_array().unwrap() {
        for res in as_list(&s["Resource"]) {
            assert!(res.starts_with(&format!("arn:aws:s3:::{bucket}")), "{res}");
        }
    }

    // No change on a second run, and no mutating call.
    let before = run.mutating_calls();
    let plan = run.plan().await.unwrap();
    assert!(!plan.has_changes(), "{plan:#?}");
    assert_eq!(run.mutating_calls(), before);

    // Drift: the policy widened out of band, the role taken out of the profile.
    iam.put_role_policy()
        .role_name(&ec2_role)
        .policy_name("trading-app-access")
        .policy_document(
            json!({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    iam.remove_role_from_instance_profile()
        .instance_profile_name(&profile_name)
        .role_name(&ec2_role)
        .send()
        .await
        .unwrap();
    let plan = run.plan().await.unwrap();
    let role_change = plan
        .changes
        .iter()
        .find(|c| c.address.as_str() == "global/iam/ec2-role")
        .unwrap();
    assert_eq!(role_change.fields.len(), 1, "{role_change:#?}");
    assert_eq!(role_change.fields[0].field, "inline_policy");
    assert!(role_change.fields[0].drift);
    let profile_change = plan
        .changes
        .iter()
        .find(|c| c.address.as_str() == "global/iam/ec2-profile")
        .unwrap();
    assert_eq!(profile_change.fields.len(), 1);
    assert_eq!(profile_change.fields[0].field, "role_name");
    assert!(profile_change.fields[0].drift);
    assert!(profile_change.reasons.is_empty(), "updated in place");
    run.apply().await;
    assert!(!run.plan().await.unwrap().has_changes());
    let doc = iam
        .get_role_policy()
        .role_name(&ec2_role)
        .policy_name("trading-app-access")
        .send()
        .await
        .unwrap();
    assert!(!doc.policy_document().contains("s3%3A%2A") && !doc.policy_document().contains("s3:*"));

    // Destroy: nothing left (the role is deleted although the profile held it).
    run.destroy().await;
    assert!(run.store().state.resources.is_empty());
    for name in [&ec2_role, &repl] {
        assert!(
            iam.get_role().role_name(name).send().await.is_err(),
            "{name}"
        );
    }
    assert!(iam
        .get_instance_profile()
        .instance_profile_name(&profile_name)
        .send()
        .await
        .is_err());
    let left: Vec<String> = iam
        .list_roles()
        .send()
        .await
        .unwrap()
        .roles()
        .iter()
        .map(|r| r.role_name().to_string())
        .filter(|n| n.contains(&env))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
