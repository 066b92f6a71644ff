//! Crash safety and fault tolerance of the dev stack, end to end: the drctl
//! binary talks to the emulator through the fault-injecting proxy
//! (`drctl-chaos`), and every check of the outcome goes through the AWS APIs
//! (tag queries, Route53 listings), not through drctl's own plan.
//!
//! - Crash convergence: drctl is SIGKILLed right after its k-th mutating
//!   call reached the emulator (the proxy holds that call's answer), then
//!   the same command runs again without the proxy and must finish; then
//!   the resources carrying this env's tags must match the state one to one
//!   (no orphan, no duplicate). The same for destroy (nothing left).
//! - Transient faults: apply, a no-change plan and destroy succeed with 20 %
//!   of requests failing (500, 503, throttling), and with 2 % of mutating
//!   calls' answers lost after they took effect (no duplicate, no orphan).
//!   Failures the SDK's retries do not absorb are retried by the executor,
//!   which re-reads and adopts what a lost call made (`drctl_core::recover`).
//!
//! CI runs a seeded sample: every position at which a reference apply made
//! a primary-region network call, plus 20 random positions (seed 11), three
//! at a time; chained destroy points 1, 2, 3, 5, 8, 13. Each prints its time.
//! `crash_at_every_mutating_call` (ignored, long: the issue asks for it as a
//! separately runnable test) tries every k.

use drctl_chaos::{Fault, Proxy, Rules};
use drctl_core::model::{Address, TAG_ADDRESS, TAG_ENV};
use drctl_core::state::{idempotency_token, State};
use drctl_testkit::{endpoint, unique_env};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

/// A killed run must have reached call k within this long.
const KILL_WAIT: Duration = Duration::from_secs(900);

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

    fn state_path(&self) -> PathBuf {
        self.dir
            .path()
            .join(format!(".drctl/{}.state.json", self.env))
    }

    fn state(&self) -> State {
        let text = std::fs::read_to_string(self.state_path()).unwrap_or_default();
        if text.is_empty() {
            return State::new(&self.env);
        }
        serde_json::from_str(&text).expect("the state stays valid")
    }

    fn command(&self, endpoint: &str, args: &[&str]) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_drctl"));
        c.args(args)
            .args(["--env", &self.env])
            .current_dir(self.dir.path())
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        c
    }

    async fn run(&self, endpoint: &str, args: &[&str]) -> Output {
        self.command(endpoint, args)
            .output()
            .await
            .expect("run drctl")
    }

    /// Runs `args` (directly against the emulator, or through `via`) and
    /// fails the test, showing drctl's output, unless it succeeds.
    async fn ok(&self, via: Option<&str>, args: &[&str]) -> String {
        let o = self.run(via.unwrap_or(&endpoint()), args).await;
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(
            o.status.success(),
            "drctl {args:?} --env {} failed:\n{}\n{}",
            self.env,
            tail(&out),
            tail(&String::from_utf8_lossy(&o.stderr))
        );
        out
    }

    /// Runs `args` through a proxy that holds mutating call `k`, and
    /// SIGKILLs drctl as soon as that call has taken effect. Returns the
    /// call's `service:Operation`, or `None` when the run made fewer than
    /// `k` mutating calls (it then finished normally).
    async fn kill_at(&self, k: u64, args: &[&str]) -> Option<String> {
        let rules = Rules {
            hold_mutating: Some(k),
            ..Rules::default()
        };
        let proxy = Proxy::start("127.0.0.1:0".parse().unwrap(), &endpoint(), rules)
            .await
            .unwrap();
        let mut child = self
            .command(&proxy.url(), args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let held = tokio::time::timeout(KILL_WAIT, async {
            tokio::select! {
                h = proxy.held() => Some(h),
                _ = child.wait() => None,
            }
        })
        .await
        .unwrap_or_else(|_| panic!("drctl {args:?} neither reached mutating call {k} nor ended"));
        let (_, op) = held?;
        child.start_kill().unwrap(); // SIGKILL
        child.wait().await.unwrap();
        // The killed run's lock stays: the rerun takes it over (its pid is gone on this host).
        Some(op)
    }
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// What the cloud holds for one env, compared with its state.
#[derive(Debug, Default)]
struct Audit {
    /// Resources found carrying the env's tag (or, for Route53, its tokens).
    found: usize,
    /// Found but not recorded in the state (or recorded under another id).
    orphans: Vec<String>,
    /// Addresses with more than one resource.
    duplicates: Vec<String>,
    /// Live EC2 instances of the env (held by a recorded group or not).
    instances: usize,
}

/// Whether `arn` names the resource whose physical id is `id` (an ARN, a
/// name, or an id such as `vpc-…` that ends the ARN).
fn arn_is(arn: &str, id: &str) -> bool {
    arn == id || arn.ends_with(&format!("/{id}")) || arn.ends_with(&format!(":{id}"))
}

/// Lists through the AWS APIs what this env owns: every resource tagged
/// `drctl:env=<env>` in both regions (the tagging API), plus untagged
/// Route53 zones and health checks whose CallerReference is one of this
/// state's create tokens (made by a create killed before tagging).
async fn audit(aws: &drctl_aws::Aws, env: &Env) -> Audit {
    let state = env.state();
    let mut by_address: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for region in ["us-east-1", "us-west-2"] {
        let tagging = aws.tagging(region);
        let ec2 = aws.ec2(region);
        let mut token: Option<String> = None;
        loop {
            let page = tagging
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
                // Instances are the ASG's, not drctl's (they carry its tags
                // through PropagateAtLaunch): audited by `stray_instances`.
                if arn.contains(":instance/") {
                    continue;
                }
                // Deleted NAT gateways stay listed (as in DescribeNatGateways).
                if let Some(nat) = arn.split(":natgateway/").nth(1) {
                    let d = ec2
                        .describe_nat_gateways()
                        .nat_gateway_ids(nat)
                        .send()
                        .await;
                    let gone = d.map(|d| {
                        d.nat_gateways().iter().all(|n| {
                            matches!(
                                n.state(),
                                Some(aws_sdk_ec2::types::NatGatewayState::Deleted)
                            )
                        })
                    });
                    if gone.unwrap_or(true) {
                        continue;
                    }
                }
                let address = m
                    .tags()
                    .iter()
                    .find(|t| t.key() == TAG_ADDRESS)
                    .map(|t| t.value().to_string())
                    .unwrap_or_else(|| format!("(no address) {arn}"));
                by_address.entry(address).or_default().push(arn);
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
    // Route53 resources made by a create that never got to tag them.
    let r53 = aws.route53("us-east-1");
    let tokens_of = |address: &str| -> BTreeSet<String> {
        let a = Address::new(address);
        (0..4)
            .map(|g| idempotency_token(&state.lineage, &a, g))
            .collect()
    };
    let zone_addr = "global/route53/zone";
    let zone_tokens = tokens_of(zone_addr);
    let zones = r53.list_hosted_zones().send().await.unwrap();
    for z in zones.hosted_zones() {
        if zone_tokens.contains(z.caller_reference()) {
            let arn = format!(
                "arn:aws:route53:::hostedzone/{}",
                z.id().trim_start_matches("/hostedzone/")
            );
            let list = by_address.entry(zone_addr.to_string()).or_default();
            if !list.contains(&arn) {
                list.push(arn);
            }
        }
    }
    let checks = r53.list_health_checks().send().await.unwrap();
    for hc in checks.health_checks() {
        for address in [
            "global/route53/health-check-primary",
            "global/route53/health-check-secondary",
        ] {
            if tokens_of(address).contains(hc.caller_reference()) {
                let arn = format!("arn:aws:route53:::healthcheck/{}", hc.id());
                let list = by_address.entry(address.to_string()).or_default();
                if !list.contains(&arn) {
                    list.push(arn);
                }
            }
        }
    }
    let mut audit = Audit::default();
    let (instances, strays) = stray_instances(aws, &state, &env.env).await;
    audit.instances = instances;
    audit.found += strays.len();
    audit.orphans.extend(strays);
    for (address, arns) in &by_address {
        audit.found += arns.len();
        if arns.len() > 1 {
            audit
                .duplicates
                .push(format!("{address}: {}", arns.join(", ")));
        }
        let recorded = state.resources.get(&Address::new(address.as_str()));
        for arn in arns {
            if !recorded.is_some_and(|r| arn_is(arn, &r.id)) {
                audit.orphans.push(format!("{address}: {arn}"));
            }
        }
    }
    audit
}

/// The live EC2 instances of `env` (tagged `drctl:env`, not terminated or
/// terminating) in both regions: how many, and those no Auto Scaling group
/// recorded in `state` holds, as `instance <id> (<region>): <why>`. Every
/// instance of a converged env belongs to a recorded group (a killed run's
/// launch leaves none behind); after destroy none is left at all.
async fn stray_instances(aws: &drctl_aws::Aws, state: &State, env: &str) -> (usize, Vec<String>) {
    let mut out = Vec::new();
    let mut live = 0;
    for region in ["us-east-1", "us-west-2"] {
        let groups: Vec<String> = state
            .resources
            .values()
            .filter(|r| {
                r.kind == drctl_stack::kinds::AUTOSCALING_GROUP
                    && r.region.as_deref() == Some(region)
            })
            .map(|r| r.id.clone())
            .collect();
        let mut held = BTreeSet::new();
        if !groups.is_empty() {
            let asgs = aws
                .autoscaling(region)
                .describe_auto_scaling_groups()
                .set_auto_scaling_group_names(Some(groups.clone()))
                .send()
                .await
                .unwrap();
            for g in asgs.auto_scaling_groups() {
                held.extend(
                    g.instances()
                        .iter()
                        .filter_map(|i| i.instance_id().map(str::to_string)),
                );
            }
        }
        let mut token: Option<String> = None;
        loop {
            let page = aws
                .ec2(region)
                .describe_instances()
                .filters(
                    aws_sdk_ec2::types::Filter::builder()
                        .name(format!("tag:{TAG_ENV}"))
                        .values(env)
                        .build(),
                )
                .filters(
                    aws_sdk_ec2::types::Filter::builder()
                        .name("instance-state-name")
                        .set_values(Some(
                            ["pending", "running", "stopping", "stopped"]
                                .map(String::from)
                                .to_vec(),
                        ))
                        .build(),
                )
                .set_next_token(token.clone())
                .send()
                .await
                .unwrap();
            for i in page.reservations().iter().flat_map(|r| r.instances()) {
                let id = i.instance_id().unwrap_or_default();
                live += 1;
                if !held.contains(id) {
                    let why = if groups.is_empty() {
                        "the state records no Auto Scaling group in this region".to_string()
                    } else {
                        format!("not an instance of {}", groups.join(", "))
                    };
                    out.push(format!("instance {id} ({region}): {why}"));
                }
            }
            token = page
                .next_token()
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            if token.is_none() {
                break;
            }
        }
    }
    (live, out)
}

/// The outcome of a set of crash points.
#[derive(Default)]
struct Tally {
    tried: usize,
    converged: usize,
    orphans: usize,
    duplicates: usize,
    failures: Vec<String>,
}

impl Tally {
    fn line(&self) -> String {
        format!(
            "crash points: {} tried, {} converged, {} orphans, {} duplicates",
            self.tried, self.converged, self.orphans, self.duplicates
        )
    }
}

/// One apply crash point: a fresh env, killed after mutating call `k`,
/// applied again, audited; then destroyed (and audited empty) to clean up.
/// `None` when the apply makes fewer than `k` mutating calls.
async fn apply_crash_point(aws: &drctl_aws::Aws, k: u64, tally: &mut Tally) -> Option<String> {
    let env = Env::new("crash");
    let start = Instant::now();
    let op = env.kill_at(k, &["apply", "--auto-approve"]).await?;
    tally.tried += 1;
    let rerun = env.run(&endpoint(), &["apply", "--auto-approve"]).await;
    let what = format!(
        "apply killed after mutating call {k} ({op}), env {}",
        env.env
    );
    if !rerun.status.success() {
        tally.failures.push(format!(
            "{what}: the next apply failed:\n{}",
            tail(&String::from_utf8_lossy(&rerun.stdout))
        ));
    } else {
        let a = audit(aws, &env).await;
        tally.orphans += a.orphans.len();
        tally.duplicates += a.duplicates.len();
        if a.orphans.is_empty() && a.duplicates.is_empty() {
            tally.converged += 1;
        } else {
            tally.failures.push(format!("{what}: {a:?}"));
        }
    }
    println!("{what}: {:.0}s", start.elapsed().as_secs_f64());
    env.ok(None, &["destroy", "--auto-approve"]).await;
    Some(op)
}

/// The primary region of `plans/dev.toml`.
const PRIMARY: &str = "us-east-1";

/// The mutating calls of one full apply of a fresh env through a recording
/// proxy, as `(region, service:Operation)`; position k is index k - 1.
/// Parallel branches make later runs' order differ a little: each crash
/// point prints the operation it actually stopped after.
async fn reference_calls() -> Vec<(String, String)> {
    let env = Env::new("crashref");
    let proxy = Proxy::start(
        "127.0.0.1:0".parse().unwrap(),
        &endpoint(),
        Rules::default(),
    )
    .await
    .unwrap();
    env.ok(Some(&proxy.url()), &["apply", "--auto-approve"])
        .await;
    let s = proxy.stats();
    env.ok(None, &["destroy", "--auto-approve"]).await;
    s.mutating_regions
        .into_iter()
        .zip(s.mutating_calls)
        .collect()
}

/// `count` positions in `1..=max` not in `taken`, from `seed`.
fn sample_beyond(seed: u64, max: u64, count: usize, taken: &BTreeSet<u64>) -> Vec<u64> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let free = (max as usize).saturating_sub(taken.len());
    let mut out = BTreeSet::new();
    while out.len() < count.min(free) {
        let k = rng.gen_range(1..=max);
        if !taken.contains(&k) {
            out.insert(k);
        }
    }
    out.into_iter().collect()
}

/// Crash points run this many at a time (each on its own env).
const CRASH_POINTS_AT_ONCE: usize = 3;

/// Apply crash points `ks`, [`CRASH_POINTS_AT_ONCE`] at a time.
async fn apply_crash_points(aws: &drctl_aws::Aws, ks: Vec<u64>) -> Tally {
    use futures::StreamExt;
    let started = Instant::now();
    let total = ks.len();
    let mut points = futures::stream::iter(ks)
        .map(|k| async move {
            let mut t = Tally::default();
            apply_crash_point(aws, k, &mut t).await;
            t
        })
        .buffer_unordered(CRASH_POINTS_AT_ONCE);
    let mut all = Tally::default();
    let mut done = 0;
    while let Some(t) = points.next().await {
        done += 1;
        for f in &t.failures {
            println!("FAILED: {f}");
        }
        all.tried += t.tried;
        all.converged += t.converged;
        all.orphans += t.orphans;
        all.duplicates += t.duplicates;
        all.failures.extend(t.failures);
        // A partial run (stopped at a deadline) still says how far it got.
        println!(
            "progress: {done}/{total} apply positions, {}, {:.0}s",
            all.line(),
            started.elapsed().as_secs_f64()
        );
    }
    all
}

/// The CI sample the issue asks for: every position at which a reference
/// apply made a call of the primary region's network (EC2 in us-east-1),
/// plus 20 seeded random positions of the whole apply.
#[tokio::test(flavor = "multi_thread")]
async fn crash_at_sampled_mutating_calls_converges() {
    let started = Instant::now();
    let aws = drctl_testkit::aws().await;
    let calls = reference_calls().await;
    let network: BTreeSet<u64> = calls
        .iter()
        .enumerate()
        .filter(|(_, (region, op))| region == PRIMARY && op.starts_with("ec2:"))
        .map(|(i, _)| i as u64 + 1)
        .collect();
    let random = sample_beyond(11, calls.len() as u64, 20, &network);
    println!(
        "reference apply: {} mutating calls; crash points: {} of the primary network, {} random ({random:?})",
        calls.len(),
        network.len(),
        random.len()
    );
    let positions: Vec<u64> = network.iter().copied().chain(random).collect();
    let tally = apply_crash_points(&aws, positions).await;
    println!("{}", tally.line());
    println!(
        "apply crash sample took {:.0}s",
        started.elapsed().as_secs_f64()
    );
    assert!(tally.failures.is_empty(), "{}", tally.failures.join("\n\n"));
    assert_eq!(tally.converged, tally.tried);
}

/// Destroy crash points, chained on one applied env (an apply per point
/// would cost minutes each): each destroy is killed after its k-th
/// mutating call, the next one resumes from where it stopped, and the last
/// one runs to the end. Then nothing of the env may be left.
async fn destroy_crash_points(aws: &drctl_aws::Aws, ks: &[u64], tally: &mut Tally) {
    let env = Env::new("crashd");
    env.ok(None, &["apply", "--auto-approve"]).await;
    let mut tried = 0;
    let mut ops = Vec::new();
    for &k in ks {
        let start = Instant::now();
        match env.kill_at(k, &["destroy", "--auto-approve"]).await {
            Some(op) => {
                tried += 1;
                println!(
                    "destroy killed after mutating call {k} ({op}), env {}: {:.0}s",
                    env.env,
                    start.elapsed().as_secs_f64()
                );
                ops.push(format!("{k} ({op})"));
            }
            None => break,
        }
    }
    tally.tried += tried;
    let what = format!(
        "destroy killed after mutating calls {}, env {}",
        ops.join(", "),
        env.env
    );
    let rerun = env.run(&endpoint(), &["destroy", "--auto-approve"]).await;
    if !rerun.status.success() {
        tally.failures.push(format!(
            "{what}: the next destroy failed:\n{}",
            tail(&String::from_utf8_lossy(&rerun.stdout))
        ));
        return;
    }
    let a = audit(aws, &env).await;
    let state = env.state();
    // After a destroy everything found is an orphan: the state is empty.
    tally.orphans += a.found;
    if a.found == 0 && state.resources.is_empty() && state.pending.is_empty() {
        tally.converged += tried;
    } else {
        tally.failures.push(format!(
            "{what}: left {a:?}; state still records {:?} and pending {:?}",
            state.resources.keys().collect::<Vec<_>>(),
            state.pending.keys().collect::<Vec<_>>()
        ));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn crash_during_destroy_converges() {
    let aws = drctl_testkit::aws().await;
    let mut tally = Tally::default();
    // Each destroy resumes the previous one: positions relative to it.
    destroy_crash_points(&aws, &[1, 2, 3, 5, 8, 13], &mut tally).await;
    println!("{}", tally.line());
    assert!(tally.failures.is_empty(), "{}", tally.failures.join("\n\n"));
    assert_eq!(tally.converged, tally.tried);
}

/// Apply, a no-change plan and destroy of the dev stack through a proxy
/// with `rules`; then the audit must find exactly what the state records
/// (after apply) and nothing (after destroy).
async fn survives(rules: Rules) {
    let aws = drctl_testkit::aws().await;
    let env = Env::new("chaos");
    let proxy = Proxy::start("127.0.0.1:0".parse().unwrap(), &endpoint(), rules.clone())
        .await
        .unwrap();
    let via = proxy.url();
    let start = Instant::now();
    env.ok(Some(&via), &["apply", "--auto-approve"]).await;
    let applied = start.elapsed();
    let a = audit(&aws, &env).await;
    assert!(
        a.orphans.is_empty() && a.duplicates.is_empty(),
        "after apply with {rules:?}: {a:?}"
    );
    // The instance audit sees the groups' instances (it is not vacuous).
    assert!(a.instances > 0, "no instance found after apply: {a:?}");
    let plan = env.run(&via, &["plan", "--detailed-exitcode"]).await;
    assert_eq!(
        plan.status.code(),
        Some(0),
        "the plan after apply is not empty:\n{}",
        tail(&String::from_utf8_lossy(&plan.stdout))
    );
    env.ok(Some(&via), &["destroy", "--auto-approve"]).await;
    let a = audit(&aws, &env).await;
    assert_eq!(a.found, 0, "left after destroy with {rules:?}: {a:?}");
    let s = proxy.stats();
    println!(
        "seed {}: {} requests, {} mutating, {} errors injected, {} answers lost; apply {:.0}s, all {:.0}s",
        rules.seed,
        s.requests,
        s.mutating,
        s.errors_injected,
        s.answers_lost,
        applied.as_secs_f64(),
        start.elapsed().as_secs_f64()
    );
    // The faults really happened.
    assert!(s.errors_injected + s.answers_lost > 0, "{s:?}");
}

fn failing(seed: u64) -> Rules {
    Rules {
        seed,
        fail_fraction: 0.20,
        ..Rules::default()
    }
}

/// 2 % of mutating calls lose their answer, drawn at random; which calls
/// those are depends on the order concurrent requests reach the proxy, so a
/// seed alone can draw none (P ≈ 2 % over ~184 calls). One more position,
/// fixed by the seed and inside the apply (105 mutating calls), always loses
/// its answer, so every run exercises the case.
fn losing(seed: u64) -> Rules {
    Rules {
        seed,
        lose_fraction: 0.02,
        nth_mutating: [(7 + 23 * seed, Fault::LoseAnswer)].into(),
        ..Rules::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_percent_of_requests_failing_seed_1() {
    survives(failing(1)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_percent_of_requests_failing_seed_2() {
    survives(failing(2)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_percent_of_requests_failing_seed_3() {
    survives(failing(3)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_percent_of_answers_lost_seed_1() {
    survives(losing(1)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_percent_of_answers_lost_seed_2() {
    survives(losing(2)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_percent_of_answers_lost_seed_3() {
    survives(losing(3)).await;
}

/// Every mutating call position of a full dev apply, each on a fresh env
/// (apply killed at k, applied again, audited, destroyed), then destroy
/// crash points. Long (hours on a small machine): run it by itself with
/// `cargo test -p drctl --test crash -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "long: every crash point of a full apply; run by itself"]
async fn crash_at_every_mutating_call() {
    let aws = drctl_testkit::aws().await;
    let started = Instant::now();
    // Every position of a reference apply, and a few beyond it (a run that
    // makes fewer calls finishes normally and is not counted).
    let calls = reference_calls().await.len() as u64;
    let mut tally = apply_crash_points(&aws, (1..=calls + 5).collect()).await;
    println!(
        "apply: {calls} mutating calls, {:.0}s",
        started.elapsed().as_secs_f64()
    );
    // Every destroy killed at its first mutating call: each resumes the
    // last, so together they stop at every position of the destroy.
    destroy_crash_points(&aws, &[1; 400], &mut tally).await;
    println!("{}", tally.line());
    assert!(tally.failures.is_empty(), "{}", tally.failures.join("\n\n"));
    assert_eq!(tally.converged, tally.tried);
}
