//! The whole dev stack, both regions, through the drctl binary against the
//! LocalStack harness: apply, no-op plan, drift, outputs, saved plans,
//! secrets, destroy. Checks go through the AWS APIs, not drctl's state.

use drctl_testkit::{endpoint, unique_env, ACCOUNT};
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

struct Cli {
    dir: tempfile::TempDir,
    env: String,
    endpoint: String,
    outputs: std::cell::RefCell<Vec<String>>,
}

impl Cli {
    fn new(prefix: &str) -> Self {
        let env = unique_env(prefix);
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("plans")).unwrap();
        let dev =
            std::fs::read_to_string(drctl_testkit::repo_root().join("plans/dev.toml")).unwrap();
        std::fs::write(dir.path().join(format!("plans/{env}.toml")), dev).unwrap();
        Cli {
            dir,
            env,
            endpoint: endpoint(),
            outputs: Default::default(),
        }
    }
    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
    fn state(&self) -> PathBuf {
        self.path(&format!(".drctl/{}.state.json", self.env))
    }
    fn plan_file(&self) -> PathBuf {
        self.path(&format!("plans/{}.toml", self.env))
    }
    fn run(&self, args: &[&str]) -> Output {
        let o = Command::new(env!("CARGO_BIN_EXE_drctl"))
            .args(args)
            .current_dir(self.dir.path())
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "trace")
            .env("DRCTL_CALL_LOG", self.path("calls.json"))
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let mut all = self.outputs.borrow_mut();
        all.push(String::from_utf8_lossy(&o.stdout).into_owned());
        all.push(String::from_utf8_lossy(&o.stderr).into_owned());
        o
    }
    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(
            o.status.success(),
            "drctl {args:?} failed:\n{out}\n{}",
            tail(&String::from_utf8_lossy(&o.stderr))
        );
        out
    }
    fn calls(&self) -> Vec<(String, u64)> {
        let text = std::fs::read_to_string(self.path("calls.json")).unwrap();
        let m: std::collections::BTreeMap<String, u64> = serde_json::from_str(&text).unwrap();
        m.into_iter().collect()
    }
    fn mutating_calls(&self) -> Vec<(String, u64)> {
        self.calls()
            .into_iter()
            .filter(|(op, _)| drctl_aws::clients::CallLog::is_mutating(op))
            .collect()
    }
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

async fn aws() -> drctl_aws::Aws {
    drctl_testkit::aws().await
}

#[tokio::test(flavor = "multi_thread")]
async fn dev_stack_end_to_end() {
    let cli = Cli::new("e2e");
    let env = cli.env.clone();
    let aws = aws().await;

    // Apply everything in both regions, and print the outputs: a first
    // deploy from a saved plan (CI's `plan -out` then `apply FILE`), made
    // before the env had any state.
    cli.ok(&["plan", "--env", &env, "--out", "first.plan"]);
    cli.ok(&["plan", "--env", &env, "--out", "other.plan"]);
    let out = cli.ok(&["apply", "first.plan"]);
    assert!(
        out.contains("Apply complete! Resources: 76 added, 0 changed, 0 destroyed."),
        "{}",
        tail(&out)
    );
    assert!(out.contains("us-east-1.alb_dns_name = "), "{out}");
    // Another plan made against no state is refused now that there is one.
    let o = cli.run(&["apply", "other.plan"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("was made for another state"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // The stack is there, seen through the AWS APIs.
    for region in ["us-east-1", "us-west-2"] {
        let vpcs = aws
            .ec2(region)
            .describe_vpcs()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("tag:Name")
                    .values(format!("trading-vpc-{env}"))
                    .build(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(vpcs.vpcs().len(), 1, "{region}");
        let lbs = aws
            .elbv2(region)
            .describe_load_balancers()
            .names(format!("trading-alb-{env}"))
            .send()
            .await
            .unwrap();
        assert_eq!(lbs.load_balancers().len(), 1);
        let db = aws
            .rds(region)
            .describe_db_instances()
            .db_instance_identifier(format!("trading-db-{env}"))
            .send()
            .await
            .unwrap();
        assert_eq!(db.db_instances()[0].multi_az(), Some(true));
    }
    let table = aws
        .dynamodb("us-west-2")
        .describe_table()
        .table_name(format!("trading-sessions-{env}"))
        .send()
        .await
        .unwrap();
    assert!(
        table
            .table()
            .unwrap()
            .replicas()
            .iter()
            .any(|r| r.region_name() == Some("us-east-1"))
            || table
                .table()
                .unwrap()
                .replicas()
                .iter()
                .any(|r| r.region_name() == Some("us-west-2"))
    );
    aws.s3("us-west-2")
        .head_bucket()
        .bucket(format!("trading-data-{env}-{ACCOUNT}-replica"))
        .send()
        .await
        .unwrap();

    post_deployment_validation(&aws, &env, &cli).await;

    // The generated DB passwords, to search for later.
    let mut passwords = Vec::new();
    for region in ["us-east-1", "us-west-2"] {
        let v = aws
            .secretsmanager(region)
            .get_secret_value()
            .secret_id(format!("trading-db-password-{env}"))
            .send()
            .await
            .unwrap();
        let json: Value = serde_json::from_str(v.secret_string().unwrap()).unwrap();
        let pw = json["password"].as_str().unwrap().to_string();
        assert!(pw.len() >= 20, "a strong password");
        passwords.push(pw);
    }

    // A second plan: nothing to do, and not one mutating call.
    let o = cli.run(&["plan", "--env", &env, "--detailed-exitcode"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert_eq!(cli.mutating_calls(), vec![]);
    let reads: u64 = cli.calls().iter().map(|(_, n)| n).sum();
    println!("no-change plan of the dev stack (76 resources): {reads} read calls");
    // Batched describes and the env's tag index: at most one read call per
    // resource, the orphan search and the account check included.
    assert!(
        reads <= 76,
        "{reads} read calls for 76 resources: {:#?}",
        cli.calls()
    );
    // Every tagged resource of the env is one drctl recorded: no orphan.
    let doc: Value = serde_json::from_str(&cli.ok(&["plan", "--env", &env, "--json"])).unwrap();
    assert_eq!(
        doc["orphans"],
        serde_json::json!([]),
        "{:#}",
        doc["orphans"]
    );

    // Drift: the ASG's max size changed out of band.
    let asg = format!("trading-asg-{env}");
    aws.autoscaling("us-east-1")
        .update_auto_scaling_group()
        .auto_scaling_group_name(&asg)
        .max_size(5)
        .send()
        .await
        .unwrap();
    // --refresh=false plans from the state alone: not one AWS call, and so
    // blind to that drift.
    let o = cli.run(&[
        "plan",
        "--env",
        &env,
        "--detailed-exitcode",
        "--refresh=false",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert_eq!(cli.calls(), vec![], "no AWS call without refresh");
    let o = cli.run(&["plan", "--env", &env, "--detailed-exitcode"]);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(2), "{text}");
    assert!(text.contains("Objects changed outside of drctl"), "{text}");
    assert!(
        text.contains("max_size: drctl applied 2, the cloud now has 5"),
        "{text}"
    );
    assert!(
        text.contains("Plan: 0 to add, 1 to change, 0 to destroy."),
        "{text}"
    );
    cli.ok(&["apply", "--env", &env, "--auto-approve"]);
    let g = aws
        .autoscaling("us-east-1")
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(&asg)
        .send()
        .await
        .unwrap();
    assert_eq!(g.auto_scaling_groups()[0].max_size(), Some(2));

    // Outputs as JSON.
    let out: Value = serde_json::from_str(&cli.ok(&["output", "--env", &env, "--json"])).unwrap();
    for region in ["us-east-1", "us-west-2"] {
        for key in [
            "vpc_id",
            "alb_arn",
            "alb_dns_name",
            "target_group_arn",
            "asg_name",
            "db_endpoint",
            "table_name",
            "table_arn",
            "bucket_name",
            "health_check_id",
            "sns_topic_arn",
        ] {
            assert!(
                out["regions"][region][key].is_string(),
                "{region}.{key} in {out}"
            );
        }
    }

    // Saved plans: applied as is; refused when stale or edited.
    let text = std::fs::read_to_string(cli.plan_file())
        .unwrap()
        .replace("max_size = 2", "max_size = 3");
    std::fs::write(cli.plan_file(), text).unwrap();
    cli.ok(&["plan", "--env", &env, "--out", "change.plan"]);
    let edited = std::fs::read_to_string(cli.path("change.plan"))
        .unwrap()
        .replacen("\"max_size\"", "\"min_size\"", 1);
    std::fs::write(cli.path("edited.plan"), edited).unwrap();
    let o = cli.run(&["apply", "edited.plan"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("was modified after it was written"));
    std::fs::copy(cli.path("change.plan"), cli.path("old.plan")).unwrap();
    let out = cli.ok(&["apply", "change.plan"]);
    assert!(
        out.contains("Apply complete! Resources: 0 added, 2 changed, 0 destroyed."),
        "{out}"
    );
    let o = cli.run(&["apply", "old.plan"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is stale: the state changed"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    protected_destroy_is_refused_up_front(&aws, &env, &cli).await;

    // Destroy: nothing of the env is left, in either region.
    let out = cli.ok(&["destroy", "--env", &env, "--auto-approve"]);
    assert!(out.contains("Destroy complete!"), "{}", tail(&out));
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(cli.state()).unwrap()).unwrap();
    assert_eq!(
        state["resources"].as_object().map(|m| m.len()),
        Some(0),
        "{state}"
    );
    for region in ["us-east-1", "us-west-2"] {
        let ec2 = aws.ec2(region);
        let tag = || {
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:drctl:env")
                .values(&env)
                .build()
        };
        assert!(ec2
            .describe_vpcs()
            .filters(tag())
            .send()
            .await
            .unwrap()
            .vpcs()
            .is_empty());
        assert!(ec2
            .describe_subnets()
            .filters(tag())
            .send()
            .await
            .unwrap()
            .subnets()
            .is_empty());
        assert!(ec2
            .describe_security_groups()
            .filters(tag())
            .send()
            .await
            .unwrap()
            .security_groups()
            .is_empty());
        assert!(ec2
            .describe_addresses()
            .filters(tag())
            .send()
            .await
            .unwrap()
            .addresses()
            .is_empty());
        let lbs = aws
            .elbv2(region)
            .describe_load_balancers()
            .names(format!("trading-alb-{env}"))
            .send()
            .await;
        assert!(lbs.map(|l| l.load_balancers().is_empty()).unwrap_or(true));
        let alarms = aws
            .cloudwatch(region)
            .describe_alarms()
            .alarm_name_prefix("trading-")
            .send()
            .await
            .unwrap();
        assert!(alarms
            .metric_alarms()
            .iter()
            .all(|a| !a.alarm_name().unwrap_or("").ends_with(&env)));
    }
    assert!(aws
        .s3("us-east-1")
        .head_bucket()
        .bucket(format!("trading-data-{env}-{ACCOUNT}"))
        .send()
        .await
        .is_err());
    assert!(aws
        .dynamodb("us-east-1")
        .describe_table()
        .table_name(format!("trading-sessions-{env}"))
        .send()
        .await
        .is_err());

    // The DB password never reached a file or the terminal (all runs had RUST_LOG=trace).
    assert_no_secret_anywhere(&cli, &passwords);
}

/// Everything tagged with the env (the tagging API, both regions and
/// Route53's), plus the IAM role it does not list.
async fn tagged_resources(aws: &drctl_aws::Aws, env: &str) -> Vec<String> {
    let scan = drctl_aws::orphans::scan(aws, env, &["us-east-1", "us-west-2"])
        .await
        .unwrap();
    let mut arns: Vec<String> = scan.items.into_iter().map(|t| t.arn).collect();
    arns.sort();
    arns.dedup();
    let role = aws
        .iam("us-east-1")
        .get_role()
        .role_name(format!("trading-ec2-role-{env}"))
        .send()
        .await
        .unwrap();
    arns.push(role.role().unwrap().arn().to_string());
    arns
}

/// With `db_deletion_protection = true`, destroy is refused at plan time:
/// exit 1, the DB named with the way out, and every resource still there.
/// Then protection goes off again (one apply) for the real destroy.
async fn protected_destroy_is_refused_up_front(aws: &drctl_aws::Aws, env: &str, cli: &Cli) {
    let set_protection = |on: bool| {
        let text = std::fs::read_to_string(cli.plan_file()).unwrap().replace(
            &format!("db_deletion_protection = {}", !on),
            &format!("db_deletion_protection = {on}"),
        );
        std::fs::write(cli.plan_file(), text).unwrap();
    };
    set_protection(true);
    let out = cli.ok(&["apply", "--env", env, "--auto-approve"]);
    assert!(
        out.contains("Apply complete! Resources: 0 added, 2 changed, 0 destroyed."),
        "{}",
        tail(&out)
    );
    let before = tagged_resources(aws, env).await;
    // The tag index lists 57 of the 76 (not IAM, associations, routes...).
    assert!(before.len() >= 50, "{before:?}");
    let state_before = std::fs::read(cli.state()).unwrap();
    let o = cli.run(&["destroy", "--env", env, "--auto-approve"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{stdout}\n{}", tail(&stderr));
    // The error, without the trace log around it.
    let err = stderr
        .lines()
        .filter(|l| !l.contains(" TRACE ") && !l.contains(" DEBUG "))
        .collect::<Vec<_>>()
        .join("\n");
    for region in ["us-east-1", "us-west-2"] {
        assert!(
            err.contains(&format!(
                "trading-db-{env} ({region}/database/db) has deletion protection on"
            )),
            "{err}"
        );
    }
    assert!(
        err.contains(&format!(
            "set db_deletion_protection = false in the env plan (plans/{env}.toml)"
        )),
        "{err}"
    );
    assert!(!stdout.contains("Destroy complete"), "{stdout}");
    assert_eq!(cli.mutating_calls(), vec![], "not one mutating call");
    assert_eq!(tagged_resources(aws, env).await, before, "all still there");
    assert_eq!(std::fs::read(cli.state()).unwrap(), state_before);
    for region in ["us-east-1", "us-west-2"] {
        let db = aws
            .rds(region)
            .describe_db_instances()
            .db_instance_identifier(format!("trading-db-{env}"))
            .send()
            .await
            .unwrap();
        assert_eq!(db.db_instances()[0].deletion_protection(), Some(true));
    }
    set_protection(false);
    cli.ok(&["apply", "--env", env, "--auto-approve"]);
}

/// Searches every stdout/stderr of the test's runs and every file drctl wrote.
fn assert_no_secret_anywhere(cli: &Cli, secrets: &[String]) {
    let mut haystacks: Vec<(String, String)> = cli
        .outputs
        .borrow()
        .iter()
        .enumerate()
        .map(|(i, o)| (format!("output #{i}"), o.clone()))
        .collect();
    assert!(
        haystacks.iter().map(|(_, o)| o.len()).sum::<usize>() > 10_000,
        "trace logs were captured"
    );
    let mut files = vec![
        cli.state(),
        cli.path(&format!(".drctl/{}.state.json.backup", cli.env)),
    ];
    files.extend(["change.plan", "old.plan"].iter().map(|f| cli.path(f)));
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        haystacks.push((f.display().to_string(), text));
    }
    for (name, text) in haystacks {
        for s in secrets {
            assert!(
                !text.contains(s.as_str()),
                "the DB password appears in {name}"
            );
        }
    }
}

/// The design document's "Post-Deployment Validation" steps, one by one,
/// as their SDK equivalents (the document runs them against us-east-1).
async fn post_deployment_validation(aws: &drctl_aws::Aws, env: &str, cli: &Cli) {
    let r = "us-east-1";
    // 1. Verify VPC created (by its Name tag): available, with its CIDR.
    let vpcs = aws
        .ec2(r)
        .describe_vpcs()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:Name")
                .values(format!("trading-vpc-{env}"))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let vpc = &vpcs.vpcs()[0];
    assert_eq!(vpc.cidr_block(), Some("10.20.0.0/16"));
    assert_eq!(vpc.state().map(|s| s.as_str()), Some("available"));
    // 2. Check ALB health: the ARN from the outputs, state active.
    let outputs: Value =
        serde_json::from_str(&cli.ok(&["output", "--env", env, "--json"])).unwrap();
    let alb_arn = outputs["regions"][r]["alb_arn"]
        .as_str()
        .unwrap()
        .to_string();
    let lbs = aws
        .elbv2(r)
        .describe_load_balancers()
        .load_balancer_arns(&alb_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        lbs.load_balancers()[0]
            .state()
            .and_then(|s| s.code())
            .map(|c| c.as_str()),
        Some("active")
    );
    // 3. Verify RDS Multi-AZ: MultiAZ, status, encrypted.
    let db = aws
        .rds(r)
        .describe_db_instances()
        .db_instance_identifier(format!("trading-db-{env}"))
        .send()
        .await
        .unwrap();
    let db = &db.db_instances()[0];
    assert_eq!(
        (db.multi_az(), db.storage_encrypted()),
        (Some(true), Some(true))
    );
    assert_eq!(db.db_instance_status(), Some("available"));
    // 4. Check DynamoDB replication: the replica region and its status.
    let t = aws
        .dynamodb(r)
        .describe_table()
        .table_name(format!("trading-sessions-{env}"))
        .send()
        .await
        .unwrap();
    let replicas = t.table().unwrap().replicas();
    assert!(
        replicas.iter().any(|x| x.region_name() == Some("us-west-2")
            && x.replica_status().map(|s| s.as_str()) == Some("ACTIVE")),
        "{replicas:?}"
    );
    // 5. Verify S3 replication.
    let rep = aws
        .s3(r)
        .get_bucket_replication()
        .bucket(format!("trading-data-{env}-{ACCOUNT}"))
        .send()
        .await
        .unwrap();
    let rule = &rep.replication_configuration().unwrap().rules()[0];
    assert_eq!(
        rule.destination().unwrap().bucket(),
        format!("arn:aws:s3:::trading-data-{env}-{ACCOUNT}-replica")
    );
    assert_eq!(
        rule.destination()
            .unwrap()
            .replication_time()
            .unwrap()
            .time()
            .unwrap()
            .minutes(),
        Some(15)
    );
    // 6. Test health check: the id from the outputs has status observations.
    let hc = outputs["regions"][r]["health_check_id"]
        .as_str()
        .unwrap()
        .to_string();
    let status = aws
        .route53("us-east-1")
        .get_health_check_status()
        .health_check_id(&hc)
        .send()
        .await
        .unwrap();
    assert!(!status.health_check_observations().is_empty());
}
