//! `drctl drill` against the LocalStack harness, on ONE applied dev stack
//! (an apply is the slow part): each method passes with the emulator's
//! scaled checker timings and leaves a no-change plan; a drill killed after
//! injection is undone by `--abort`; an RTO target of 1 s is breached (exit
//! 1); `--check` finds a deleted replica. The JSON report's shape is
//! snapshot-tested with the times and ids redacted.
//!
//! The emulator's Route53 checkers run every 30 s x DRCTL_HEALTH_CHECK_TIME_SCALE
//! (0.02 in tests/harness/localstack.sh): about 1.8 s to fail over.

use drctl_testkit::{endpoint, unique_env, ACCOUNT};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Instant;

struct Env {
    dir: tempfile::TempDir,
    env: String,
    endpoint: String,
}

const FAST: &[&str] = &["--poll-interval", "100ms", "--timeout", "60s"];

impl Env {
    fn new() -> Self {
        let env = unique_env("drill");
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("plans")).unwrap();
        let dev =
            std::fs::read_to_string(drctl_testkit::repo_root().join("plans/dev.toml")).unwrap();
        std::fs::write(dir.path().join(format!("plans/{env}.toml")), dev).unwrap();
        Env {
            dir,
            env,
            endpoint: endpoint(),
        }
    }
    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_drctl"));
        c.args(args)
            .args(["--env", &self.env])
            .current_dir(self.dir.path())
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        c
    }
    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }
    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(
            o.status.success(),
            "drctl {args:?} failed:\n{out}\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        out
    }
    fn drill(&self, extra: &[&str]) -> Output {
        let mut args = vec!["drill"];
        args.extend_from_slice(FAST);
        args.extend_from_slice(extra);
        let t = Instant::now();
        let o = self.run(&args);
        eprintln!("drctl drill {extra:?}: {:.1} s", t.elapsed().as_secs_f64());
        o
    }
    /// The env is exactly as the plan wants it.
    fn assert_no_changes(&self) {
        let o = self.run(&["plan", "--detailed-exitcode"]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "plan after the drill:\n{}",
            String::from_utf8_lossy(&o.stdout)
        );
    }
    /// Starts a drill and SIGKILLs it once it printed a line containing `marker`.
    fn kill_after(&self, extra: &[&str], marker: &str) {
        let mut args = vec!["drill", "--poll-interval", "100ms"];
        args.extend_from_slice(extra);
        let mut child = self
            .command(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let reader = BufReader::new(child.stdout.take().unwrap());
        let mut seen = false;
        for line in reader.lines() {
            if line.unwrap().contains(marker) {
                seen = true;
                break;
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(seen, "the drill never printed '{marker}'");
    }
    fn state(&self) -> Value {
        let text =
            std::fs::read_to_string(self.path(&format!(".drctl/{}.state.json", self.env))).unwrap();
        serde_json::from_str(&text).unwrap()
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The report with what changes from run to run replaced.
fn redacted(report: &Value, env: &str) -> Value {
    let text = serde_json::to_string(report)
        .unwrap()
        .replace(env, "<env>")
        .replace(ACCOUNT, "<account>");
    let mut v: Value = serde_json::from_str(&text).unwrap();
    let phases: Vec<Value> = v["phases"].as_array().unwrap().clone();
    let mut seen: Vec<String> = vec![];
    for p in &phases {
        let name = p["phase"].as_str().unwrap().to_string();
        if !seen.contains(&name) {
            seen.push(name);
        }
    }
    v["phases"] = serde_json::json!(seen);
    for c in v["readiness"].as_array_mut().unwrap() {
        c["detail"] = "<detail>".into();
    }
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn dr_drill_on_one_applied_stack() {
    let e = Env::new();
    let started = Instant::now();
    e.ok(&["apply", "--auto-approve"]);
    eprintln!("apply: {:.1} s", started.elapsed().as_secs_f64());

    // Readiness alone, read-only.
    let out = e.ok(&["drill", "--check"]);
    assert!(out.contains("Ready for a drill."), "{out}");

    // health-check (the default), JSON report.
    let o = e.drill(&["--json", "--markdown", "report.md"]);
    assert!(
        o.status.success(),
        "{}\n{}",
        stdout(&o),
        String::from_utf8_lossy(&o.stderr)
    );
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["passed"], true, "{report:#}");
    assert_eq!(report["method"], "health-check");
    let rto = report["rto_seconds"].as_f64().unwrap();
    assert!(rto > 0.0 && rto < 300.0, "{rto}");
    for store in ["dynamodb", "s3"] {
        let lag = report["rpo_seconds"][store].as_f64().unwrap();
        assert!((0.0..60.0).contains(&lag), "{store}: {lag}");
    }
    // The S3 replica copy comes 0.2 s after the write (DRCTL_S3_REPLICATION_DELAY).
    assert!(
        report["rpo_seconds"]["s3"].as_f64().unwrap() >= 0.15,
        "{report:#}"
    );
    assert!(report["failback_seconds"].as_f64().is_some());
    assert_eq!(report["changes_after"], serde_json::json!([]));
    // The timeline went to stderr as it happened.
    let timeline = String::from_utf8_lossy(&o.stderr);
    assert!(timeline.contains("injection"), "{timeline}");
    assert!(
        timeline.contains("Route53 answers with the secondary ALB"),
        "{timeline}"
    );
    let md = std::fs::read_to_string(e.path("report.md")).unwrap();
    assert!(
        md.contains("**PASSED**") && md.contains("| RTO (failover) |"),
        "{md}"
    );
    insta::assert_json_snapshot!("drill_report", redacted(&report, &e.env), {
        ".started_at" => "[time]",
        ".finished_at" => "[time]",
        ".rto_seconds" => "[seconds]",
        ".failback_seconds" => "[seconds]",
        ".rpo_seconds.dynamodb" => "[seconds]",
        ".rpo_seconds.s3" => "[seconds]",
    });
    e.assert_no_changes();
    assert!(e.state().get("drill").is_none());

    // The other two methods, text output: timeline, RTO and RPO, no changes.
    for method in ["sg", "asg"] {
        let o = e.drill(&["--method", method]);
        let out = stdout(&o);
        assert!(
            o.status.success(),
            "{method}:\n{out}\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        for want in [
            "readiness",
            "canaries",
            "Route53 answers with the secondary ALB",
            "failed over: RTO",
            "Route53 answers with the primary ALB again",
            "a plan shows no changes",
            "RTO (failover)",
            "RPO DynamoDB",
            "RPO S3",
            "Drill passed.",
        ] {
            assert!(out.contains(want), "{method}: no '{want}' in:\n{out}");
        }
        if method == "sg" {
            // The checkers' 3 failures, before the DNS moves (no EvaluateTargetHealth shortcut:
            // the targets stay healthy behind a closed SG).
            assert!(out.contains("Route53 considers the primary unhealthy (3/3 checkers report failure: Failure: Connection timed out"), "{out}");
        }
        e.assert_no_changes();
    }

    // A drill killed after the injection: plan warns, --abort undoes it.
    e.kill_after(&["--method", "sg"], "revoked");
    let journal = e.state()["drill"].clone();
    assert_eq!(journal["injection"]["method"], "sg", "{journal:#}");
    assert_eq!(journal["injection"]["ingress"].as_array().unwrap().len(), 2);
    // The killed drill's lock is taken over by the next run on this host.
    let plan = e.run(&["plan"]);
    assert!(
        String::from_utf8_lossy(&plan.stderr).contains("took over the state lock"),
        "{}",
        String::from_utf8_lossy(&plan.stderr)
    );
    let plan_out = stdout(&plan);
    assert!(plan_out.contains("a DR drill is in progress"), "{plan_out}");
    let out = e.ok(&["drill", "--abort"]);
    assert!(out.contains("restored 2 ingress rule(s)"), "{out}");
    assert!(out.contains("canaries deleted"), "{out}");
    assert!(e.state().get("drill").is_none());
    e.assert_no_changes();
    let out = e.ok(&["drill", "--abort"]);
    assert!(out.contains("No drill in progress"), "{out}");

    // Killed after inverting the health check: the plan shows the check as
    // drift (inverted = true), --abort puts it back.
    e.kill_after(&["--method", "health-check"], "inverted health check");
    // Its lock, too, is taken over by the next run.
    let plan = e.run(&["plan", "--detailed-exitcode"]);
    let plan_out = stdout(&plan);
    assert_eq!(plan.status.code(), Some(2), "{plan_out}");
    assert!(plan_out.contains("inverted"), "{plan_out}");
    let out = e.ok(&["drill", "--abort"]);
    assert!(out.contains("Inverted=false"), "{out}");
    e.assert_no_changes();

    // A breached target exits 1, and the env is still put back.
    let plan_file = e.path(&format!("plans/{}.toml", e.env));
    let mut text = std::fs::read_to_string(&plan_file).unwrap();
    text = text.replacen("[tags]", "rto_target = \"1s\"\n\n[tags]", 1);
    std::fs::write(&plan_file, text).unwrap();
    let o = e.drill(&["--method", "sg"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("Drill failed:"), "{out}");
    assert!(out.contains("over the target of 1 s"), "{out}");
    e.assert_no_changes();

    // --check names a deleted replica.
    let aws = drctl_testkit::aws().await;
    aws.dynamodb("us-east-1")
        .update_table()
        .table_name(format!("trading-sessions-{}", e.env))
        .replica_updates(
            aws_sdk_dynamodb::types::ReplicationGroupUpdate::builder()
                .delete(
                    aws_sdk_dynamodb::types::DeleteReplicationGroupMemberAction::builder()
                        .region_name("us-west-2")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let o = e.run(&["drill", "--check"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "FAILED DynamoDB replica of trading-sessions-{} in us-west-2 is ACTIVE",
            e.env
        )),
        "{out}"
    );
    assert!(out.contains("Not ready:"), "{out}");
    eprintln!("drill test total: {:.1} s", started.elapsed().as_secs_f64());
}
