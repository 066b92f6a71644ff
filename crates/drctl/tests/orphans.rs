//! "Show: an orphan appears as an orphan": `drctl plan` (text and `--json`)
//! lists resources tagged with the env that the state and the plan lack,
//! through the binary against the emulator.
//!
//! Setup, kept small: the testkit applies only the primary VPC into a state
//! file; out of band, the test makes a second VPC claiming the same address
//! (a duplicate), a security group with an address the plan does not have,
//! and one with no address tag. The binary then plans the whole dev stack
//! with that state.

use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
use drctl_testkit::{dev_stack, endpoint, slice, unique_env, Run};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

const VPC: &str = "us-east-1/network/vpc";
const STRAY: &str = "us-east-1/network/stray-sg";

fn tags(ty: ResourceType, env: &str, address: Option<&str>) -> TagSpecification {
    let mut b = TagSpecification::builder()
        .resource_type(ty)
        .tags(Tag::builder().key("drctl:env").value(env).build());
    if let Some(a) = address {
        b = b.tags(Tag::builder().key("drctl:address").value(a).build());
    }
    b.build()
}

fn drctl(dir: &Path, env: &str, state: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_drctl"))
        .args(["plan", "--env", env, "--state"])
        .arg(state)
        .args(args)
        .current_dir(dir)
        .env("AWS_ENDPOINT_URL", endpoint())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run drctl")
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "drctl failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_orphan_appears_as_an_orphan() {
    let env = unique_env("orph");
    let run = Run::new(&env, slice(dev_stack(&env), |a| a == VPC)).await;
    run.apply().await;
    let vpc_id = run.store().state.resources[&drctl_core::model::Address::new(VPC)]
        .id
        .clone();

    let ec2 = run.aws.ec2("us-east-1");
    let dup = ec2
        .create_vpc()
        .cidr_block("10.250.0.0/16")
        .tag_specifications(tags(ResourceType::Vpc, &env, Some(VPC)))
        .send()
        .await
        .unwrap();
    let dup_id = dup.vpc().and_then(|v| v.vpc_id()).unwrap().to_string();
    let mut groups = Vec::new();
    for (name, address) in [("stray", Some(STRAY)), ("untagged", None)] {
        let g = ec2
            .create_security_group()
            .group_name(format!("{name}-{env}"))
            .description("made by the orphans test")
            .vpc_id(&dup_id)
            .tag_specifications(tags(ResourceType::SecurityGroup, &env, address))
            .send()
            .await
            .unwrap();
        groups.push(g.group_id().unwrap().to_string());
    }

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plans")).unwrap();
    std::fs::copy(
        drctl_testkit::repo_root().join("plans/dev.toml"),
        dir.path().join(format!("plans/{env}.toml")),
    )
    .unwrap();

    // The text plan.
    let text = stdout(&drctl(dir.path(), &env, &run.state_path, &[]));
    println!("{text}");
    let section = text
        .split_once("Orphans: ")
        .map(|(_, s)| s)
        .unwrap_or_else(|| panic!("no orphans section:\n{text}"));
    assert!(
        section.starts_with(&format!(
            "resources tagged drctl:env={env} that neither the state nor the plan knows."
        )),
        "{section}"
    );
    let sg = |id: &str| {
        format!("ec2:security-group (us-east-1) arn:aws:ec2:us-east-1:000000000000:security-group/{id}\n")
    };
    assert!(
        section.contains(&format!(
            "{}      drctl:address = {STRAY}\n      why: no resource of the state or the plan has this address\n",
            sg(&groups[0])
        )),
        "{section}"
    );
    assert!(
        section.contains(&format!(
            "{}      drctl:address = (none)\n      why: it has no drctl:address tag\n",
            sg(&groups[1])
        )),
        "{section}"
    );
    assert!(
        section.contains(&format!(
            "ec2:vpc (us-east-1) arn:aws:ec2:us-east-1:000000000000:vpc/{dup_id}\n      drctl:address = {VPC}\n      why: a duplicate: drctl's resource at this address is {vpc_id}\n"
        )),
        "{section}"
    );
    assert!(
        !section.contains(&format!("vpc/{vpc_id}")),
        "the managed VPC is no orphan"
    );
    assert!(section.contains("Plan: "), "the count line stays last");

    // The JSON document.
    let doc: Value = serde_json::from_str(&stdout(&drctl(
        dir.path(),
        &env,
        &run.state_path,
        &["--json"],
    )))
    .unwrap();
    let mut orphans: Vec<(String, String, Option<String>)> = doc["orphans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["arn"]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_string(),
                o["reason"].as_str().unwrap().to_string(),
                o["recorded_id"].as_str().map(str::to_string),
            )
        })
        .collect();
    orphans.sort();
    let mut want = vec![
        (groups[0].clone(), "unknown-address".to_string(), None),
        (groups[1].clone(), "no-address-tag".to_string(), None),
        (
            dup_id.clone(),
            "duplicate".to_string(),
            Some(vpc_id.clone()),
        ),
    ];
    want.sort();
    assert_eq!(orphans, want, "{:#}", doc["orphans"]);

    // Without refresh nothing is looked at, so no orphan either.
    let text = stdout(&drctl(
        dir.path(),
        &env,
        &run.state_path,
        &["--refresh=false"],
    ));
    assert!(!text.contains("Orphans:"), "{text}");

    // Clean up what the test made out of band, then the slice.
    for g in &groups {
        ec2.delete_security_group()
            .group_id(g)
            .send()
            .await
            .unwrap();
    }
    ec2.delete_vpc().vpc_id(&dup_id).send().await.unwrap();
    run.destroy().await;
}
