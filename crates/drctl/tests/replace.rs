//! Replacement end to end against the harness, through the drctl binary:
//! a Route53 health check replaced create-before-destroy (the failover
//! records move to the new one first, then the old one is deleted), and a
//! `secondary_vpc_cidr` change that replaces the secondary region's VPC and
//! everything in it (subnets, security groups, target group, load balancer,
//! DB subnet group, DB, ...) in one apply. Each time the next plan has
//! nothing to do and the AWS APIs show no orphan and no duplicate.

use drctl_core::model::{Address, TAG_ADDRESS, TAG_ENV};
use drctl_core::state::State;
use drctl_testkit::{endpoint, unique_env};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output};

struct Env {
    dir: tempfile::TempDir,
    env: String,
}

impl Env {
    fn new(prefix: &str) -> Self {
        let env = unique_env(prefix);
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("plans")).unwrap();
        let dev =
            std::fs::read_to_string(drctl_testkit::repo_root().join("plans/dev.toml")).unwrap();
        // A domain of its own: a zone a killed run of another env left
        // untagged under the shared name would be a (correct) name clash here.
        let dev = dev.replace(
            "domain_name = \"dev.trading.example.com\"",
            &format!("domain_name = \"{env}.trading.example.com\""),
        );
        assert!(dev.contains(&format!("{env}.trading.example.com")));
        std::fs::write(dir.path().join(format!("plans/{env}.toml")), dev).unwrap();
        Env { dir, env }
    }
    fn plan_file(&self) -> PathBuf {
        self.dir.path().join(format!("plans/{}.toml", self.env))
    }
    fn state(&self) -> State {
        let path = self
            .dir
            .path()
            .join(format!(".drctl/{}.state.json", self.env));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }
    fn id(&self, address: &str) -> String {
        self.state().resources[&Address::new(address)].id.clone()
    }
    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_drctl"))
            .args(args)
            .args(["--env", &self.env])
            .current_dir(self.dir.path())
            .env("AWS_ENDPOINT_URL", endpoint())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    }
    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(
            o.status.success(),
            "drctl {args:?} failed:\n{}\n{}",
            tail(&out),
            tail(&String::from_utf8_lossy(&o.stderr))
        );
        out
    }
    /// `plan -detailed-exitcode` exits 0: nothing to do.
    fn converged(&self) {
        let o = self.run(&["plan", "-detailed-exitcode"]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "the next plan still has changes:\n{}",
            tail(&String::from_utf8_lossy(&o.stdout))
        );
    }
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

/// Whether `arn` names the resource whose physical id is `id`.
fn arn_is(arn: &str, id: &str) -> bool {
    arn == id || arn.ends_with(&format!("/{id}")) || arn.ends_with(&format!(":{id}"))
}

/// Through the AWS APIs: every resource tagged with the env (both regions,
/// Route53 included), by its `drctl:address` tag, that the state does not
/// record one to one: `(orphans, duplicates)`.
async fn audit(aws: &drctl_aws::Aws, env: &Env) -> (Vec<String>, Vec<String>) {
    let state = env.state();
    let mut by_address: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for region in ["us-east-1", "us-west-2"] {
        let mut token: Option<String> = None;
        loop {
            let page = aws
                .tagging(region)
                .get_resources()
                .tag_filters(
                    aws_sdk_resourcegroupstagging::types::TagFilter::builder()
                        .key(TAG_ENV)
                        .values(&env.env)
                        .build(),
                )
                .set_pagination_token(token.clone())
                .send()
                .await
                .unwrap();
            for m in page.resource_tag_mapping_list() {
                let arn = m.resource_arn().unwrap_or_default().to_string();
                // Instances are the ASG's (launch template tags), and
                // deleted NAT gateways stay listed for a while, as on AWS.
                if arn.contains(":instance/") || nat_deleted(aws, region, &arn).await {
                    continue;
                }
                let address = m
                    .tags()
                    .iter()
                    .find(|t| t.key() == TAG_ADDRESS)
                    .map(|t| t.value().to_string())
                    .unwrap_or_else(|| format!("(no address) {arn}"));
                let list = by_address.entry(address).or_default();
                if !list.contains(&arn) {
                    list.push(arn);
                }
            }
            token = page
                .pagination_token()
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            if token.is_none() {
                break;
            }
        }
    }
    let (mut orphans, mut duplicates) = (vec![], vec![]);
    for (address, arns) in &by_address {
        if arns.len() > 1 {
            duplicates.push(format!("{address}: {}", arns.join(", ")));
        }
        let recorded = state.resources.get(&Address::new(address.as_str()));
        for arn in arns {
            if !recorded.is_some_and(|r| arn_is(arn, &r.id)) {
                orphans.push(format!("{address}: {arn}"));
            }
        }
    }
    (orphans, duplicates)
}

async fn nat_deleted(aws: &drctl_aws::Aws, region: &str, arn: &str) -> bool {
    let Some(nat) = arn.split(":natgateway/").nth(1) else {
        return false;
    };
    let d = aws
        .ec2(region)
        .describe_nat_gateways()
        .nat_gateway_ids(nat)
        .send()
        .await;
    d.map(|d| {
        d.nat_gateways().iter().all(|n| {
            matches!(
                n.state(),
                Some(aws_sdk_ec2::types::NatGatewayState::Deleted)
            )
        })
    })
    .unwrap_or(true)
}

async fn assert_clean(aws: &drctl_aws::Aws, env: &Env, after: &str) {
    let (orphans, duplicates) = audit(aws, env).await;
    assert!(
        orphans.is_empty() && duplicates.is_empty(),
        "after {after}: orphans {orphans:#?}, duplicates {duplicates:#?}"
    );
    assert!(env.state().deposed.is_empty(), "after {after}");
    assert!(env.state().pending.is_empty(), "after {after}");
}

/// The health check id the failover record `set` (PRIMARY/SECONDARY) uses.
async fn record_check(aws: &drctl_aws::Aws, zone: &str, set: &str) -> Option<String> {
    let sets = aws
        .route53("us-east-1")
        .list_resource_record_sets()
        .hosted_zone_id(zone)
        .send()
        .await
        .unwrap();
    sets.resource_record_sets()
        .iter()
        .find(|r| r.failover().map(|f| f.as_str()) == Some(set))
        .and_then(|r| r.health_check_id().map(str::to_string))
}

/// The apply's summary repeats the plan's figures (`Plan: 1 to add, 1 to
/// change, 1 to destroy.` then `Resources: 1 added, 1 changed, 1
/// destroyed.`): a create-before-destroy replacement's deposed delete is
/// its destroy, not a second one (a new user saw `2 destroyed`).
fn assert_same_figures(plan: &str, apply: &str) {
    let figures = |text: &str, prefix: &str| -> Vec<u32> {
        let line = text
            .lines()
            .find(|l| l.contains(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} line in:\n{}", tail(text)));
        line.split(|c: char| !c.is_ascii_digit())
            .filter(|w| !w.is_empty())
            .map(|w| w.parse().unwrap())
            .collect()
    };
    assert_eq!(
        figures(plan, "Plan: "),
        figures(apply, "Resources: "),
        "plan and apply summaries differ:\n{}\n---\n{}",
        tail(plan),
        tail(apply)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn health_check_and_secondary_vpc_replacements_apply_end_to_end() {
    let env = Env::new("repl");
    let aws = drctl_testkit::aws().await;
    env.ok(&["apply", "--auto-approve"]);
    assert_clean(&aws, &env, "the first apply").await;

    // (a) A health check: the records move to the new one, the old one goes.
    let hc = "global/route53/health-check-primary";
    let old_check = env.id(hc);
    let zone = env.id("global/route53/zone");
    let plan = env.ok(&["plan", &format!("-replace={hc}")]);
    assert!(plan.contains("+/- route53:health-check"), "{}", tail(&plan));
    assert!(
        plan.contains("create replacement and then destroy"),
        "{plan}"
    );
    let out = env.ok(&["apply", "--auto-approve", &format!("-replace={hc}")]);
    assert_same_figures(&plan, &out);
    let new_check = env.id(hc);
    assert_ne!(new_check, old_check);
    assert_eq!(
        record_check(&aws, &zone, "PRIMARY").await.as_deref(),
        Some(new_check.as_str())
    );
    let old = aws
        .route53("us-east-1")
        .get_health_check()
        .health_check_id(&old_check)
        .send()
        .await;
    assert!(old.is_err(), "the old health check is still there: {old:?}");
    env.converged();
    assert_clean(&aws, &env, "the health check replacement").await;

    // (b) The secondary VPC's CIDR: the whole secondary network and what
    // lives in it is replaced in one apply.
    let region = "us-west-2";
    let replaced = [
        "network/vpc",
        "network/public-subnet-1",
        "network/private-subnet-2",
        "security/alb-sg",
        "security/ec2-sg",
        "security/rds-sg",
        "compute/tg",
        "compute/alb",
        "compute/listener",
        "database/subnet-group",
        "database/db",
    ];
    let before: BTreeMap<&str, String> = replaced
        .iter()
        .map(|p| (*p, env.id(&format!("{region}/{p}"))))
        .collect();
    let old_vpc = before["network/vpc"].clone();
    let text = std::fs::read_to_string(env.plan_file()).unwrap().replace(
        "secondary_vpc_cidr = \"10.21.0.0/16\"",
        "secondary_vpc_cidr = \"10.31.0.0/16\"",
    );
    assert!(text.contains("10.31.0.0/16"));
    std::fs::write(env.plan_file(), text).unwrap();
    let plan = env.ok(&["plan"]);
    for p in replaced {
        assert!(
            plan.contains(&format!("# {region}/{p} must be replaced")),
            "{p} is not replaced:\n{plan}"
        );
    }
    // Nothing moves to another VPC in place.
    for p in ["compute/alb", "database/subnet-group"] {
        assert!(
            !plan.contains(&format!("# {region}/{p} will be updated in place")),
            "{plan}"
        );
    }
    let out = env.ok(&["apply", "--auto-approve"]);
    assert!(out.contains("Apply complete!"), "{}", tail(&out));
    assert_same_figures(&plan, &out);
    // The DB subnet group and the DB are known by their names, which a
    // replacement keeps: they are checked through their VPC below.
    let named = ["database/subnet-group", "database/db"];
    for p in replaced.iter().filter(|p| !named.contains(p)) {
        assert_ne!(env.id(&format!("{region}/{p}")), before[p], "{p}");
    }
    // Through the APIs: one VPC of the env in the region, with the new range,
    // and the load balancer and DB subnet group in it.
    let vpcs = aws
        .ec2(region)
        .describe_vpcs()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name(format!("tag:{TAG_ENV}"))
                .values(&env.env)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let vpcs: Vec<_> = vpcs.vpcs().iter().collect();
    assert_eq!(vpcs.len(), 1, "{vpcs:?}");
    assert_eq!(vpcs[0].cidr_block(), Some("10.31.0.0/16"));
    let new_vpc = vpcs[0].vpc_id().unwrap().to_string();
    assert_ne!(new_vpc, old_vpc);
    let lbs = aws
        .elbv2(region)
        .describe_load_balancers()
        .load_balancer_arns(env.id(&format!("{region}/compute/alb")))
        .send()
        .await
        .unwrap();
    assert_eq!(lbs.load_balancers()[0].vpc_id(), Some(new_vpc.as_str()));
    let groups = aws
        .rds(region)
        .describe_db_subnet_groups()
        .db_subnet_group_name(env.id(&format!("{region}/database/subnet-group")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        groups.db_subnet_groups()[0].vpc_id(),
        Some(new_vpc.as_str())
    );
    let dbs = aws
        .rds(region)
        .describe_db_instances()
        .db_instance_identifier(env.id(&format!("{region}/database/db")))
        .send()
        .await
        .unwrap();
    let db = &dbs.db_instances()[0];
    assert_eq!(
        db.db_subnet_group().and_then(|g| g.vpc_id()),
        Some(new_vpc.as_str()),
        "{db:?}"
    );
    // The Auto Scaling group moved to the new subnets, its instances too
    // (the old subnets could not be deleted under them).
    let new_subnets: Vec<String> = ["network/private-subnet-1", "network/private-subnet-2"]
        .iter()
        .map(|p| env.id(&format!("{region}/{p}")))
        .collect();
    let asg = aws
        .autoscaling(region)
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(env.id(&format!("{region}/compute/asg")))
        .send()
        .await
        .unwrap();
    let group = &asg.auto_scaling_groups()[0];
    let mut zones: Vec<&str> = group
        .vpc_zone_identifier()
        .unwrap_or_default()
        .split(',')
        .collect();
    zones.sort();
    let mut want: Vec<&str> = new_subnets.iter().map(String::as_str).collect();
    want.sort();
    assert_eq!(zones, want);
    env.converged();
    assert_clean(&aws, &env, "the VPC replacement").await;

    env.ok(&["destroy", "--auto-approve"]);
    let (orphans, _) = audit(&aws, &env).await;
    assert!(orphans.is_empty(), "left after destroy: {orphans:#?}");
}
