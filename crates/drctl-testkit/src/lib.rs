//! Test support shared by the integration tests.
//!
//! - [`endpoint`]: the emulator. `AWS_ENDPOINT_URL` when set (as `tests/run.sh`
//!   does); otherwise LocalStack is started once per test process through
//!   `tests/harness/localstack.sh` on a free port, and stopped by a watchdog
//!   when the process exits. Tests isolate themselves by env name, so they
//!   share one emulator and run in parallel.
//! - [`Run`]: plan / apply / destroy of (part of) the blueprint for one env,
//!   through the real engine and reconcilers.

use drctl_aws::Aws;
use drctl_core::apply::ApplyReport;
use drctl_core::engine::Engine;
use drctl_core::graph::StackGraph;
use drctl_core::model::ResourceSpec;
use drctl_core::plan::{Plan, PlanError};
use drctl_core::reconcile::{Ctx, Registry};
use drctl_core::state::StateStore;
use drctl_stack::{blueprint, envplan, kinds};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

/// The account id LocalStack reports.
pub const ACCOUNT: &str = "000000000000";

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The emulator's URL, starting it if needed. Also points the SDK's
/// credential chain at test credentials when it starts its own.
pub fn endpoint() -> String {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT
        .get_or_init(|| {
            if let Ok(e) = std::env::var("AWS_ENDPOINT_URL") {
                if !e.is_empty() {
                    return e;
                }
            }
            let port = {
                let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free local port");
                l.local_addr().expect("local addr").port()
            };
            let script = repo_root().join("tests/harness/localstack.sh");
            let out = Command::new("bash")
                .arg(&script)
                .arg("start")
                .arg(port.to_string())
                .output()
                .expect("run tests/harness/localstack.sh");
            assert!(
                out.status.success(),
                "could not start the emulator: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            // Stop it when this test process is gone.
            let watchdog = format!(
                "while kill -0 {} 2>/dev/null; do sleep 1; done; bash '{}' stop {port} >/dev/null 2>&1",
                std::process::id(),
                script.display()
            );
            let _ = Command::new("setsid").arg("bash").arg("-c").arg(watchdog).spawn();
            format!("http://127.0.0.1:{port}")
        })
        .clone()
}

/// Test credentials and region for the emulator (process-wide, set once).
fn emulator_env() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        for (k, v) in [
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
        ] {
            if std::env::var(k).is_err() {
                std::env::set_var(k, v);
            }
        }
    });
}

pub async fn aws() -> Aws {
    let e = endpoint();
    emulator_env();
    Aws::load(Some(e)).await
}

/// A fresh env name: `prefix` plus a random suffix.
pub fn unique_env(prefix: &str) -> String {
    use rand::Rng;
    let n: u32 = rand::thread_rng().gen_range(0..0x00ff_ffff);
    format!("{prefix}-{n:06x}")
}

/// `plans/dev.toml` under another env name.
pub fn dev_plan(env: &str) -> envplan::EnvPlan {
    let text = std::fs::read_to_string(repo_root().join("plans/dev.toml")).expect("plans/dev.toml");
    envplan::parse(Path::new("plans/dev.toml"), &text, env).expect("dev plan is valid")
}

/// The whole dev stack for `env`, with the emulator's account id.
pub fn dev_stack(env: &str) -> Vec<ResourceSpec> {
    blueprint::build(&dev_plan(env), Some(ACCOUNT))
}

/// Only the specs whose address passes `keep`, plus everything they depend
/// on (transitively), so a slice of the stack can be applied on its own.
pub fn slice(specs: Vec<ResourceSpec>, keep: impl Fn(&str) -> bool) -> Vec<ResourceSpec> {
    let mut wanted: std::collections::BTreeSet<String> = specs
        .iter()
        .filter(|s| keep(s.address.as_str()))
        .map(|s| s.address.0.clone())
        .collect();
    loop {
        let before = wanted.len();
        for s in &specs {
            if wanted.contains(&s.address.0) {
                for d in s.dependencies() {
                    wanted.insert(d.0);
                }
            }
        }
        if wanted.len() == before {
            break;
        }
    }
    specs
        .into_iter()
        .filter(|s| wanted.contains(&s.address.0))
        .collect()
}

/// One env's engine run against the emulator, with its own state file.
pub struct Run {
    pub env: String,
    pub aws: Aws,
    pub registry: Registry,
    pub specs: Vec<ResourceSpec>,
    pub state_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Run {
    pub async fn new(env: &str, specs: Vec<ResourceSpec>) -> Self {
        let aws = aws().await;
        let dir = tempfile::tempdir().expect("temp dir");
        Run {
            env: env.into(),
            registry: drctl_aws::registry(&aws),
            aws,
            specs,
            state_path: dir.path().join(format!("{env}.state.json")),
            _dir: dir,
        }
    }

    /// The engine as the CLI configures it: this run's registry and env,
    /// parallelism 10, the stack's destroy rules.
    pub fn engine(&self) -> Engine<'static> {
        Engine::new(self.registry.clone(), Ctx::new(self.env.clone()))
            .parallelism(10)
            .destroy_rules(kinds::DESTROY_RULES)
    }

    pub fn store(&self) -> StateStore {
        StateStore::open(&self.state_path, &self.env).expect("state opens")
    }

    pub async fn plan(&self) -> Result<Plan, PlanError> {
        // Each plan is a new run: the test changed things out of band.
        self.aws.forget_reads();
        let graph = StackGraph::build(self.specs.clone()).expect("graph");
        self.engine().plan(&graph, &self.store().state, true).await
    }

    async fn execute(&self, plan: &Plan) -> ApplyReport {
        let graph = StackGraph::build(self.specs.clone()).expect("graph");
        self.engine()
            .apply(plan, &graph, Arc::new(Mutex::new(self.store())))
            .await
    }

    /// Plans and applies; panics with the report when anything failed, or
    /// when the mutating calls the apply made do not match the plan's
    /// actions ([`assert_calls_match_plan`]).
    pub async fn apply(&self) -> Plan {
        let plan = self
            .plan()
            .await
            .unwrap_or_else(|e| panic!("plan failed: {e}"));
        let before = self.aws.calls().snapshot();
        let report = self.execute(&plan).await;
        assert!(report.success(), "apply failed: {report:#?}");
        let after = self.aws.calls().snapshot();
        let made: BTreeMap<String, u64> = after
            .into_iter()
            .filter(|(op, _)| drctl_aws::clients::CallLog::is_mutating(op))
            .map(|(op, n)| {
                let was = before.get(&op).copied().unwrap_or(0);
                (op, n - was)
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        assert_calls_match_plan(&plan, &made);
        plan
    }

    /// Destroys everything the env owns; panics when anything failed.
    pub async fn destroy(&self) -> Plan {
        self.aws.forget_reads();
        let graph = StackGraph::build(self.specs.clone()).expect("graph");
        let plan = self
            .engine()
            .plan_destroy(&graph, &self.store().state)
            .await
            .unwrap_or_else(|e| panic!("destroy plan failed: {e}"));
        let report = self.execute(&plan).await;
        assert!(report.success(), "destroy failed: {report:#?}");
        plan
    }

    /// Mutating API calls made so far by this run's clients.
    pub fn mutating_calls(&self) -> Vec<(String, u64)> {
        self.aws
            .calls()
            .snapshot()
            .into_iter()
            .filter(|(op, _)| drctl_aws::clients::CallLog::is_mutating(op))
            .collect()
    }
}

/// The SDK's service name (as the call log counts it, `service:Operation`)
/// of a kind's service (the part of the kind before `:`).
pub fn service_of(kind: &str) -> &'static str {
    match kind.split(':').next().unwrap_or(kind) {
        "ec2" => "EC2",
        "elbv2" => "Elastic Load Balancing v2",
        "autoscaling" => "Auto Scaling",
        "iam" => "IAM",
        "secretsmanager" => "Secrets Manager",
        "rds" => "RDS",
        "dynamodb" => "DynamoDB",
        "s3" => "S3",
        "route53" => "Route 53",
        "sns" => "SNS",
        "cloudwatch" => "CloudWatch",
        _ => "?",
    }
}

/// Whether a mutating operation only writes tags.
pub fn is_tag_call(op: &str) -> bool {
    let name = op.rsplit(':').next().unwrap_or(op);
    name.to_ascii_lowercase().contains("tag")
}

/// The plan-vs-apply check: the mutating calls an apply made (`made`,
/// `service:Operation` → count) match the plan's actions.
/// - A plan with no action: not one mutating call.
/// - Every call is to the service of a resource the plan acts on (no
///   change the plan did not show).
/// - Every resource the plan acts on got at least one call to its service
///   (no change shown that apply did not make).
/// - When every action is an in-place update of tags only, every call is a
///   tag call.
pub fn assert_calls_match_plan(plan: &Plan, made: &BTreeMap<String, u64>) {
    use drctl_core::plan::Action;
    let acting: Vec<_> = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .collect();
    let summary: Vec<String> = acting
        .iter()
        .map(|c| format!("{} {}", c.action.symbol(), c.address))
        .collect();
    if acting.is_empty() {
        assert!(
            made.is_empty(),
            "the plan had no action, but apply made mutating calls: {made:?}"
        );
        return;
    }
    let services: BTreeSet<&str> = acting.iter().map(|c| service_of(&c.kind)).collect();
    for op in made.keys() {
        let service = op.rsplit_once(':').map(|(s, _)| s).unwrap_or(op);
        assert!(
            services.contains(service),
            "apply called {op}, but the plan acts on no {service} resource: {summary:?}"
        );
    }
    for c in &acting {
        let service = service_of(&c.kind);
        assert!(
            made.keys().any(|op| op.starts_with(&format!("{service}:"))),
            "the plan showed {} {}, but apply made no {service} call: {made:?}",
            c.action.symbol(),
            c.address
        );
    }
    let tags_only = acting.iter().all(|c| {
        c.action == Action::Update && c.fields.iter().all(|f| f.field == drctl_core::diff::TAGS)
    });
    if tags_only {
        for op in made.keys() {
            assert!(
                is_tag_call(op),
                "the plan changed tags only, but apply called {op}: {summary:?}"
            );
        }
    }
}
