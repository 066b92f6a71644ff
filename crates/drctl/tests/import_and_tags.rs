//! `drctl import` and tags as desired state against the LocalStack
//! harness, through the binary.
//!
//! Import: on a
//! dev-like env, seven resources of seven kinds lose their ownership tags
//! and their state entries; the plan's clash report prints an import for
//! each one it can name (the VPC, which has no unique name, is imported by
//! its id as a Terraform user would), each printed command runs as printed,
//! and afterwards `plan --detailed-exitcode` exits 0. Refused imports (an id
//! of another kind, another bucket, another env's role) change nothing.

use drctl_testkit::{endpoint, unique_env};
use std::process::{Command, Output, Stdio};

const VPC: &str = "us-east-1/network/vpc";
const BUCKET: &str = "us-east-1/storage/data-bucket";
const TABLE: &str = "us-east-1/dynamodb/sessions-table";
const TOPIC: &str = "us-east-1/monitoring/alerts-topic";
const SECRET: &str = "us-east-1/database/password-secret";
const ROLE: &str = "global/iam/ec2-role";
const TG: &str = "us-east-1/compute/tg";
const ALL: [&str; 7] = [VPC, BUCKET, TABLE, TOPIC, SECRET, ROLE, TG];

struct Cli {
    dir: tempfile::TempDir,
    env: String,
}

impl Cli {
    fn new() -> Self {
        let env = unique_env("imp");
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("plans")).unwrap();
        let dev =
            std::fs::read_to_string(drctl_testkit::repo_root().join("plans/dev.toml")).unwrap();
        std::fs::write(dir.path().join(format!("plans/{env}.toml")), dev).unwrap();
        Cli { dir, env }
    }
    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_drctl"))
            .args(args)
            .current_dir(self.dir.path())
            .env("AWS_ENDPOINT_URL", endpoint())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
    /// `drctl ARGS --env ENV`, expected to exit 0; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let mut all = args.to_vec();
        all.extend(["--env", self.env.as_str()]);
        let o = self.run(&all);
        assert!(
            o.status.success(),
            "drctl {all:?} ({:?}):\n{}\n{}",
            o.status.code(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
    /// `drctl ARGS --env ENV`, expected to exit 1; returns stderr.
    fn fails(&self, args: &[&str]) -> String {
        let mut all = args.to_vec();
        all.extend(["--env", self.env.as_str()]);
        let o = self.run(&all);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(1), "drctl {all:?}: {err}");
        err
    }
    fn state(&self) -> serde_json::Value {
        let p = self
            .dir
            .path()
            .join(format!(".drctl/{}.state.json", self.env));
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    }
    fn id_of(&self, address: &str) -> String {
        self.state()["resources"][address]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{address} not in the state"))
            .to_string()
    }
    fn targets() -> Vec<String> {
        ALL.iter().map(|a| format!("-target={a}")).collect()
    }
}

/// Removes drctl:env and drctl:address from `id` (of the kind at
/// `address`) with the kind's own service, as a user in the console would.
async fn untag(address: &str, id: &str, state: &serde_json::Value) {
    let aws = drctl_testkit::aws().await;
    let keys = ["drctl:env", "drctl:address"];
    let arn = state["resources"][address]["attrs"]["arn"]
        .as_str()
        .unwrap_or(id)
        .to_string();
    match address {
        VPC => {
            let tags = keys
                .iter()
                .map(|k| aws_sdk_ec2::types::Tag::builder().key(*k).build())
                .collect();
            aws.ec2("us-east-1")
                .delete_tags()
                .resources(id)
                .set_tags(Some(tags))
                .send()
                .await
                .unwrap();
        }
        BUCKET => {
            let s3 = aws.s3("us-east-1");
            let now = s3.get_bucket_tagging().bucket(id).send().await.unwrap();
            let kept: Vec<_> = now
                .tag_set()
                .iter()
                .filter(|t| !keys.contains(&t.key()))
                .cloned()
                .collect();
            s3.put_bucket_tagging()
                .bucket(id)
                .tagging(
                    aws_sdk_s3::types::Tagging::builder()
                        .set_tag_set(Some(kept))
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .unwrap();
        }
        TABLE => {
            aws.dynamodb("us-east-1")
                .untag_resource()
                .resource_arn(arn)
                .set_tag_keys(Some(keys.map(String::from).to_vec()))
                .send()
                .await
                .unwrap();
        }
        TOPIC => {
            aws.sns("us-east-1")
                .untag_resource()
                .resource_arn(id)
                .set_tag_keys(Some(keys.map(String::from).to_vec()))
                .send()
                .await
                .unwrap();
        }
        SECRET => {
            aws.secretsmanager("us-east-1")
                .untag_resource()
                .secret_id(id)
                .set_tag_keys(Some(keys.map(String::from).to_vec()))
                .send()
                .await
                .unwrap();
        }
        ROLE => {
            aws.iam("us-east-1")
                .untag_role()
                .role_name(id)
                .set_tag_keys(Some(keys.map(String::from).to_vec()))
                .send()
                .await
                .unwrap();
        }
        TG => {
            aws.elbv2("us-east-1")
                .remove_tags()
                .resource_arns(id)
                .set_tag_keys(Some(keys.map(String::from).to_vec()))
                .send()
                .await
                .unwrap();
        }
        other => panic!("no untag for {other}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn import_adopts_seven_kinds_back_through_the_printed_hints() {
    let cli = Cli::new();
    let env = cli.env.clone();
    let targets = Cli::targets();
    let mut apply = vec!["apply", "-auto-approve"];
    apply.extend(targets.iter().map(String::as_str));
    cli.ok(&apply);
    let ids: Vec<(&str, String)> = ALL.iter().map(|a| (*a, cli.id_of(a))).collect();
    let state = cli.state();

    // Lost: the ownership tags (by hand) and the state entries (state rm).
    for (address, id) in &ids {
        untag(address, id, &state).await;
        cli.ok(&["state", "rm", address]);
    }

    // The plan refuses the same-named resources it finds, and prints an
    // import for each (the VPC has no unique name: it is not found at all).
    let mut plan = vec!["plan"];
    plan.extend(targets.iter().map(String::as_str));
    let err = cli.fails(&plan);
    let printed: Vec<String> = err
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("drctl import "))
        .map(str::to_string)
        .collect();
    for (address, id) in ids.iter().filter(|(a, _)| *a != VPC) {
        let want = format!("drctl import --env {env} {address} {id}");
        assert!(printed.contains(&want), "{want} not printed:\n{err}");
    }
    assert!(
        !err.contains("drctl cannot import"),
        "every kind here is importable:\n{err}"
    );

    // Refused imports leave the state as it is.
    let before = cli.state();
    let topic_arn = &ids.iter().find(|(a, _)| *a == TOPIC).unwrap().1;
    let e = cli.fails(&["import", SECRET, topic_arn]);
    assert!(
        e.contains(&format!("cannot import {SECRET}: {topic_arn} is an ARN of sns, not of secretsmanager: secretsmanager:secret takes the secret ARN")),
        "{e}"
    );
    let missing = "arn:aws:secretsmanager:us-east-1:000000000000:secret:nope-AbCdEf";
    let e = cli.fails(&["import", SECRET, missing]);
    assert!(
        e.contains(&format!("cannot import {SECRET}: no secretsmanager:secret with id {missing} in us-east-1: check the id (secretsmanager:secret takes the secret ARN)")),
        "{e}"
    );
    let s3 = drctl_testkit::aws().await.s3("us-east-1");
    let other_bucket = format!("other-{env}");
    s3.create_bucket()
        .bucket(&other_bucket)
        .send()
        .await
        .unwrap();
    let e = cli.fails(&["import", BUCKET, &other_bucket]);
    assert!(
        e.contains(&format!(
            "cannot import {BUCKET}: {other_bucket} is not the resource {BUCKET} describes"
        )) && e.contains(&format!("its name is \"{other_bucket}\"")),
        "{e}"
    );
    let iam = drctl_testkit::aws().await.iam("us-east-1");
    let theirs = format!("theirs-{env}");
    iam.create_role()
        .role_name(&theirs)
        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[]}"#)
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("drctl:env")
                .value("someone-else")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let e = cli.fails(&["import", ROLE, &theirs]);
    assert!(
        e.contains(&format!(
            "cannot import {ROLE}: {theirs} carries the ownership tags of env 'someone-else'"
        )),
        "{e}"
    );
    assert_eq!(
        cli.state()["resources"],
        before["resources"],
        "state untouched"
    );
    s3.delete_bucket()
        .bucket(&other_bucket)
        .send()
        .await
        .unwrap();
    iam.delete_role().role_name(&theirs).send().await.unwrap();

    // Every printed command runs as printed; the VPC by its id.
    let vpc_id = &ids[0].1;
    cli.ok(&["import", VPC, vpc_id]);
    for line in &printed {
        let args: Vec<&str> = line.split(' ').skip(1).collect();
        let o = cli.run(&args);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{line}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    for (address, id) in &ids {
        assert_eq!(&cli.id_of(address), id, "{address} recorded with its id");
    }
    let mut check = vec!["plan", "--detailed-exitcode"];
    check.extend(targets.iter().map(String::as_str));
    check.extend(["--env", env.as_str()]);
    let o = cli.run(&check);
    assert_eq!(
        o.status.code(),
        Some(0),
        "after the imports nothing differs:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );

    let mut destroy = vec!["destroy", "-auto-approve"];
    destroy.extend(targets.iter().map(String::as_str));
    let _ = cli.run(&[&destroy[..], &["--env", env.as_str()]].concat());
}

/// Tag drift is a change: `plan -detailed-exitcode` exits 2 after a tag is
/// changed and another added by hand, and 0 once apply put them right.
#[tokio::test(flavor = "multi_thread")]
async fn tag_drift_exits_2_and_0_after_apply() {
    let cli = Cli::new();
    let env = cli.env.clone();
    let target = format!("-target={VPC}");
    cli.ok(&["apply", "-auto-approve", &target]);
    let vpc = cli.id_of(VPC);
    let tag = |k: &str, v: &str| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build();
    drctl_testkit::aws()
        .await
        .ec2("us-east-1")
        .create_tags()
        .resources(&vpc)
        .tags(tag("CostCenter", "changed-by-hand"))
        .tags(tag("AddedByHand", "x"))
        .send()
        .await
        .unwrap();
    let plan = [
        "plan",
        "-detailed-exitcode",
        target.as_str(),
        "--env",
        env.as_str(),
    ];
    let o = cli.run(&plan);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(out.contains("~ tags"), "{out}");
    cli.ok(&["apply", "-auto-approve", &target]);
    let o = cli.run(&plan);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let _ = cli.run(&["destroy", "-auto-approve", &target, "--env", &env]);
}

/// A same-named resource of another env: the clash report says drctl will
/// not take it, and prints no import (import would refuse it).
#[tokio::test(flavor = "multi_thread")]
async fn another_envs_look_alike_is_not_offered_for_import() {
    let cli = Cli::new();
    let env = cli.env.clone();
    let role = format!("trading-ec2-role-{env}");
    let iam = drctl_testkit::aws().await.iam("us-east-1");
    iam.create_role()
        .role_name(&role)
        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[]}"#)
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("drctl:env")
                .value("someone-else")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let err = cli.fails(&["plan", &format!("-target={ROLE}")]);
    iam.delete_role().role_name(&role).send().await.unwrap();
    assert!(
        err.contains(&format!(
            "{role} ({ROLE}): it belongs to env 'someone-else'; drctl will not take it from there. Delete or rename it in that env, or give this env other names, and run the plan again."
        )),
        "{err}"
    );
    assert!(!err.contains("drctl import"), "{err}");
}

/// A `[tags]` value change reaches the launch template's own tags *and* the
/// tags its version gives the instances and volumes it launches (issue 12,
/// finding H): one apply makes one new version (the Auto Scaling group
/// moves to it), and the next `plan -detailed-exitcode` exits 0.
#[tokio::test(flavor = "multi_thread")]
async fn a_tags_change_makes_one_launch_template_version_and_settles() {
    const LT: &str = "us-east-1/compute/launch-template";
    const ASG: &str = "us-east-1/compute/asg";
    let cli = Cli::new();
    let env = cli.env.clone();
    let target = format!("-target={ASG}");
    cli.ok(&["apply", "-auto-approve", &target]);
    let file = cli.dir.path().join(format!("plans/{env}.toml"));
    let text = std::fs::read_to_string(&file).unwrap();
    let changed = text.replace("CostCenter = \"development\"", "CostCenter = \"finance\"");
    assert_ne!(text, changed, "the dev plan sets CostCenter");
    std::fs::write(&file, changed).unwrap();
    let plan = [
        "plan",
        "-detailed-exitcode",
        target.as_str(),
        "--env",
        env.as_str(),
    ];
    let o = cli.run(&plan);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains("~ instance_tags:") && out.contains("~ volume_tags:"),
        "{out}"
    );
    cli.ok(&["apply", "-auto-approve", &target]);
    let o = cli.run(&plan);
    assert_eq!(
        o.status.code(),
        Some(0),
        "settled after one apply:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );

    let lt = cli.id_of(LT);
    let aws = drctl_testkit::aws().await;
    let ec2 = aws.ec2("us-east-1");
    let cost = |tags: &[aws_sdk_ec2::types::Tag]| {
        tags.iter()
            .find(|t| t.key() == Some("CostCenter"))
            .and_then(|t| t.value())
            .map(str::to_string)
    };
    let d = ec2
        .describe_launch_templates()
        .launch_template_ids(&lt)
        .send()
        .await
        .unwrap();
    let template = &d.launch_templates()[0];
    assert_eq!(cost(template.tags()).as_deref(), Some("finance"));
    assert_eq!(
        template.default_version_number(),
        Some(2),
        "one new version"
    );
    assert_eq!(template.latest_version_number(), Some(2), "one new version");
    let v = ec2
        .describe_launch_template_versions()
        .launch_template_id(&lt)
        .versions("2")
        .send()
        .await
        .unwrap();
    let data = v.launch_template_versions()[0]
        .launch_template_data()
        .unwrap();
    assert_eq!(data.tag_specifications().len(), 2, "{data:?}");
    for spec in data.tag_specifications() {
        assert_eq!(cost(spec.tags()).as_deref(), Some("finance"), "{spec:?}");
    }
    let g = aws
        .autoscaling("us-east-1")
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(cli.id_of(ASG))
        .send()
        .await
        .unwrap();
    let group = &g.auto_scaling_groups()[0];
    assert_eq!(
        group.launch_template().and_then(|l| l.version()),
        Some("2"),
        "the group launches from the new version"
    );
    let _ = cli.run(&["destroy", "-auto-approve", &target, "--env", &env]);
}

/// The ids `drctl import` takes, as a Terraform user types them (issue 14,
/// findings A–D, G): a bucket's and a table's ARN are taken for their
/// names; an empty id, a topic ARN of the other region or another account
/// are refused with one plain sentence before any call; importing what the
/// state already records is "nothing to do" and leaves the state file
/// byte for byte, or says which lost tags it put back.
#[tokio::test(flavor = "multi_thread")]
async fn import_takes_arns_refuses_bad_ids_plainly_and_a_re_import_changes_nothing() {
    let cli = Cli::new();
    let env = cli.env.clone();
    let targets = [BUCKET, TABLE, TOPIC].map(|a| format!("-target={a}"));
    let mut apply = vec!["apply", "-auto-approve"];
    apply.extend(targets.iter().map(String::as_str));
    cli.ok(&apply);
    let (bucket, table, topic) = (cli.id_of(BUCKET), cli.id_of(TABLE), cli.id_of(TOPIC));
    let state = cli.state();
    let table_arn = state["resources"][TABLE]["attrs"]["arn"]
        .as_str()
        .unwrap()
        .to_string();
    let path = cli.dir.path().join(format!(".drctl/{env}.state.json"));
    let bytes = std::fs::read(&path).unwrap();

    // G: already managed.
    let out = cli.ok(&["import", BUCKET, &bucket]);
    assert!(
        out.contains(&format!(
            "{BUCKET} is already managed as {bucket}: nothing to do (the state is unchanged)."
        )),
        "{out}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "state untouched");
    untag(BUCKET, &bucket, &state).await;
    let out = cli.ok(&["import", BUCKET, &bucket]);
    assert!(
        out.contains(&format!("{BUCKET} is already managed as {bucket}; it had lost tags, put back now: drctl:address, drctl:env. The state is unchanged.")),
        "{out}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "state untouched");

    // C: an empty id, D: another region's or account's ARN.
    for blank in ["", "  "] {
        let e = cli.fails(&["import", TABLE, blank]);
        assert!(
            e.contains(&format!("cannot import {TABLE}: the id is empty: give dynamodb:table's id after the address (the table name)")),
            "{e}"
        );
        assert!(!e.contains("Interceptor") && !e.contains("  as"), "{e}");
    }
    let west = topic.replace("us-east-1", "us-west-2");
    let e = cli.fails(&["import", TOPIC, &west]);
    assert!(
        e.contains(&format!("cannot import {TOPIC}: {west} is in region us-west-2, but {TOPIC} is in region us-east-1")),
        "{e}"
    );
    let theirs = topic.replace(":000000000000:", ":111111111111:");
    let e = cli.fails(&["import", TOPIC, &theirs]);
    assert!(
        e.contains(
            "belongs to account 111111111111, but the credentials are for account 000000000000"
        ),
        "{e}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bytes,
        "refusals change nothing"
    );

    // A, B: ARNs for kinds Terraform imports by name.
    cli.ok(&["state", "rm", BUCKET, TABLE]);
    let started = std::time::Instant::now();
    cli.ok(&["import", BUCKET, &format!("arn:aws:s3:::{bucket}")]);
    cli.ok(&["import", TABLE, &table_arn]);
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    assert_eq!(cli.id_of(BUCKET), bucket);
    assert_eq!(cli.id_of(TABLE), table);
    let mut check = vec!["plan", "--detailed-exitcode"];
    check.extend(targets.iter().map(String::as_str));
    check.extend(["--env", env.as_str()]);
    let o = cli.run(&check);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let mut destroy = vec!["destroy", "-auto-approve"];
    destroy.extend(targets.iter().map(String::as_str));
    let _ = cli.run(&[&destroy[..], &["--env", env.as_str()]].concat());
}

/// Kinds AWS cannot tag (an email subscription, a bucket's replication)
/// never clash on their own (issue 14, finding E): with their parents'
/// ownership tags and state entries gone, the plan reports the parents
/// only, and after the printed imports they are found again. Their hints end
/// somewhere runnable (finding F): `state rm` and `import` point to apply,
/// the plan that records one says "1 to import" beside exit 2, and after the
/// apply the plan exits 0.
#[tokio::test(flavor = "multi_thread")]
async fn untaggable_kinds_follow_their_parents_and_their_hints_end_in_apply() {
    const SUB: &str = "us-east-1/monitoring/email-subscription";
    const REPL: &str = "us-east-1/storage/replication";
    let cli = Cli::new();
    let env = cli.env.clone();
    let targets = [SUB, REPL].map(|a| format!("-target={a}"));
    let mut apply = vec!["apply", "-auto-approve"];
    apply.extend(targets.iter().map(String::as_str));
    cli.ok(&apply);
    let state = cli.state();
    for parent in [TOPIC, BUCKET] {
        untag(parent, &cli.id_of(parent), &state).await;
        cli.ok(&["state", "rm", parent]);
    }
    let mut plan = vec!["plan"];
    plan.extend(targets.iter().map(String::as_str));
    let err = cli.fails(&plan);
    assert!(err.contains("2 name clash(es)"), "{err}");
    assert!(!err.contains(SUB) && !err.contains(REPL), "{err}");
    assert!(!err.contains("cannot import"), "{err}");
    let printed: Vec<&str> = err
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("drctl import "))
        .collect();
    assert_eq!(printed.len(), 2, "{err}");
    for line in printed {
        let args: Vec<&str> = line.split(' ').skip(1).collect();
        let o = cli.run(&args);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{line}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let mut check = vec!["plan", "-detailed-exitcode"];
    check.extend(targets.iter().map(String::as_str));
    check.extend(["--env", env.as_str()]);
    let o = cli.run(&check);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );

    // F: forget the subscription; every hint leads to the apply that records it.
    let sub = cli.id_of(SUB);
    let out = cli.ok(&["state", "rm", SUB]);
    assert!(
        out.contains(&format!("{SUB} cannot carry tags (AWS cannot tag the kind): the next plan finds it through what it attaches to and `drctl apply --env {env}` records it again")),
        "{out}"
    );
    let e = cli.fails(&["import", SUB, &sub]);
    assert!(
        e.contains(&format!(
            "Run `drctl plan --env {env}` to see it, then `drctl apply --env {env}` to record it."
        )),
        "{e}"
    );
    assert!(!e.contains("Delete"), "{e}");
    let o = cli.run(&check);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains("Plan: 1 to import, 0 to add, 0 to change, 0 to destroy."),
        "{out}"
    );
    cli.ok(&apply);
    assert_eq!(cli.id_of(SUB), sub, "recorded again, the same subscription");
    let o = cli.run(&check);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let mut destroy = vec!["destroy", "-auto-approve"];
    destroy.extend(targets.iter().map(String::as_str));
    let _ = cli.run(&[&destroy[..], &["--env", env.as_str()]].concat());
}
