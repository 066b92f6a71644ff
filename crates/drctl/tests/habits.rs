//! Terraform's habits against the LocalStack harness, through the drctl
//! binary: `-target`, `-replace`, `-refresh-only`, `state rm`, `import`, an
//! `apply | head -1`, and a real SIGINT to a running apply (through a proxy
//! that slows every request down).

use drctl_testkit::{endpoint, unique_env};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const SUBNET: &str = "us-east-1/network/public-subnet-1";
const VPC: &str = "us-east-1/network/vpc";

struct Cli {
    dir: tempfile::TempDir,
    env: String,
    endpoint: String,
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
        }
    }
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_drctl"));
        c.args(args)
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
    /// Runs `drctl ARGS --env ENV` and expects exit 0; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let mut all = args.to_vec();
        all.extend(["--env", self.env.as_str()]);
        let o = self.run(&all);
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(
            o.status.success(),
            "drctl {all:?} failed ({:?}):\n{out}\n{}",
            o.status.code(),
            String::from_utf8_lossy(&o.stderr)
        );
        out
    }
    /// Runs `drctl ARGS` on a terminal (a pty from util-linux `script`),
    /// typing `input`; returns the exit code and everything shown.
    fn on_terminal(&self, args: &[&str], input: &str) -> (Option<i32>, String) {
        let line = std::iter::once(env!("CARGO_BIN_EXE_drctl"))
            .chain(args.iter().copied())
            .collect::<Vec<_>>()
            .join(" ");
        let mut c = self.command(&[]);
        let mut script = Command::new("script");
        script
            .args(["-qec", &line, "/dev/null"])
            .current_dir(self.dir.path())
            .envs(c.get_envs().filter_map(|(k, v)| Some((k, v?))))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c.stdin(Stdio::null());
        let mut child = script.spawn().expect("util-linux `script` runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let o = child.wait_with_output().unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).replace("\r\n", "\n"),
        )
    }
    fn state_path(&self) -> PathBuf {
        self.dir
            .path()
            .join(format!(".drctl/{}.state.json", self.env))
    }
    fn state(&self) -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(self.state_path()).unwrap()).unwrap()
    }
    fn id_of(&self, address: &str) -> Option<String> {
        self.state()["resources"][address]["id"]
            .as_str()
            .map(str::to_string)
    }
    fn addresses(&self) -> Vec<String> {
        self.state()["resources"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }
}

async fn ec2() -> aws_sdk_ec2::Client {
    drctl_testkit::aws().await.ec2("us-east-1")
}

async fn tags_of(ec2: &aws_sdk_ec2::Client, id: &str) -> Vec<(String, String)> {
    let out = ec2
        .describe_tags()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("resource-id")
                .values(id)
                .build(),
        )
        .send()
        .await
        .unwrap();
    out.tags()
        .iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn target_replace_refresh_only_state_rm_and_import() {
    let cli = Cli::new("habits");
    let env = cli.env.clone();
    let target = format!("-target={SUBNET}");

    // -target: the subnet and what it depends on (the VPC), nothing else.
    let out = cli.ok(&["plan", &target]);
    assert!(
        out.contains("Plan: 2 to add, 0 to change, 0 to destroy."),
        "{out}"
    );
    assert!(out.contains(&format!("  # {VPC} will be created")), "{out}");
    assert!(
        out.contains("-target is in effect: this plan covers 2 of the 76 resources"),
        "{out}"
    );

    // `apply | head -1` with Terraform's spellings: the work is done and the
    // exit code says so, although stdout was closed after one line.
    let mut child = cli
        .command(&["apply", "--env", &env, &target, "-auto-approve"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "apply | head -1: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut addresses = cli.addresses();
    addresses.sort();
    assert_eq!(addresses, [SUBNET, VPC]);
    let subnet_id = cli.id_of(SUBNET).unwrap();
    let vpc_id = cli.id_of(VPC).unwrap();

    // -replace: forced -/+ with the reason, and a new subnet after apply.
    let replace = format!("-replace={SUBNET}");
    let out = cli.ok(&["plan", &target, &replace]);
    assert!(out.contains("-/+ ec2:subnet"), "{out}");
    assert!(out.contains("replacement requested with -replace"), "{out}");
    assert!(
        out.contains("Plan: 1 to add, 0 to change, 1 to destroy."),
        "{out}"
    );
    cli.ok(&["apply", &target, &replace, "-auto-approve"]);
    let new_subnet = cli.id_of(SUBNET).unwrap();
    assert_ne!(new_subnet, subnet_id, "-replace made a new subnet");
    assert_eq!(cli.id_of(VPC).unwrap(), vpc_id, "the VPC was not replaced");

    // -refresh-only: drift accepted into the state, nothing changed in the cloud.
    let ec2 = ec2().await;
    ec2.modify_vpc_attribute()
        .vpc_id(&vpc_id)
        .enable_dns_hostnames(
            aws_sdk_ec2::types::AttributeBooleanValue::builder()
                .value(false)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let out = cli.ok(&["plan", "-refresh-only"]);
    assert!(
        out.contains("~ enable_dns_hostnames: drctl applied true, the cloud now has false"),
        "{out}"
    );
    assert!(
        out.contains("Refresh: 1 to update in the state, 0 to remove from the state."),
        "{out}"
    );
    let out = cli.ok(&["apply", "-refresh-only", "-auto-approve"]);
    assert!(
        out.contains("The state now matches the cloud: 1 updated, 0 forgotten"),
        "{out}"
    );
    assert_eq!(
        cli.state()["resources"][VPC]["applied"]["enable_dns_hostnames"],
        serde_json::json!(false)
    );
    let out = cli.ok(&["plan", "-refresh-only"]);
    assert!(
        out.contains("No changes. The state matches the cloud"),
        "{out}"
    );
    // The plan file still wants true: an ordinary update now, not drift.
    let out = cli.ok(&["plan", &format!("-target={VPC}")]);
    assert!(
        out.contains("~ enable_dns_hostnames = false -> true"),
        "{out}"
    );
    assert!(!out.contains("Objects changed outside of drctl"), "{out}");

    // state rm: forgotten (with a backup), left in the cloud.
    let out = cli.ok(&["state", "rm", SUBNET]);
    assert!(
        out.contains(&format!(
            "Removed {SUBNET} (ec2:subnet {new_subnet}) from the state."
        )),
        "{out}"
    );
    assert_eq!(cli.addresses(), [VPC]);
    let backups: Vec<_> = std::fs::read_dir(cli.dir.path().join(".drctl"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with(&format!("{env}.state.json."))
                && n.ends_with(".backup")
                && n != format!("{env}.state.json.backup")
        })
        .collect();
    assert_eq!(backups.len(), 1, "one timestamped backup");
    assert!(std::fs::read_to_string(backups[0].path())
        .unwrap()
        .contains(&new_subnet));
    assert!(
        !tags_of(&ec2, &new_subnet).await.is_empty(),
        "still in the cloud"
    );

    // import: a subnet without drctl's tags is checked, tagged and recorded.
    ec2.delete_tags()
        .resources(&new_subnet)
        .tags(aws_sdk_ec2::types::Tag::builder().key("drctl:env").build())
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("drctl:address")
                .build(),
        )
        .send()
        .await
        .unwrap();
    // One of another env is refused.
    ec2.create_tags()
        .resources(&new_subnet)
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("drctl:env")
                .value("someone-else")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let o = cli.run(&["import", "--env", &env, SUBNET, &new_subnet]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "carries the ownership tags of env 'someone-else' (drctl:env=someone-else): drctl will not take a resource from another env"
        ),
        "{err}"
    );
    ec2.delete_tags()
        .resources(&new_subnet)
        .tags(aws_sdk_ec2::types::Tag::builder().key("drctl:env").build())
        .send()
        .await
        .unwrap();
    let out = cli.ok(&["import", SUBNET, &new_subnet]);
    assert!(out.contains(&format!("Imported {SUBNET}: ec2:subnet {new_subnet} is tagged drctl:env={env}, drctl:address={SUBNET} and recorded in the state.")), "{out}");
    assert_eq!(cli.id_of(SUBNET).as_deref(), Some(new_subnet.as_str()));
    let tags = tags_of(&ec2, &new_subnet).await;
    assert!(
        tags.contains(&("drctl:env".into(), env.clone())),
        "{tags:?}"
    );
    assert!(
        tags.contains(&("drctl:address".into(), SUBNET.into())),
        "{tags:?}"
    );
    // Importing over a recorded resource is refused with the way out.
    let o = cli.run(&["import", "--env", &env, SUBNET, &subnet_id]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("first run `drctl state rm --env {env} {SUBNET}`")),
        "{err}"
    );

    // `destroy` answered `yes`, as Terraform asks: it explains that it
    // wants the env name, and destroys nothing.
    let (code, shown) = cli.on_terminal(&["destroy", "--env", &env], "yes\n");
    assert_eq!(code, Some(1), "{shown}");
    assert!(
        shown.contains(&format!("Destroy cancelled: destroy asks for the env name, not 'yes'. Run it again and type {env} to confirm.")),
        "{shown}"
    );
    assert_eq!(cli.id_of(SUBNET).as_deref(), Some(new_subnet.as_str()));

    // Ownership tags removed by hand from a recorded resource: plan refuses
    // it and prints the import that puts them back, runnable as printed.
    ec2.delete_tags()
        .resources(&new_subnet)
        .tags(aws_sdk_ec2::types::Tag::builder().key("drctl:env").build())
        .send()
        .await
        .unwrap();
    let o = cli.run(&["plan", "--env", &env, &target]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let printed = format!("drctl import --env {env} {SUBNET} {new_subnet}");
    assert!(err.contains(&printed), "{err}");
    let args: Vec<&str> = printed.split(' ').skip(1).collect();
    let o = cli.run(&args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{printed}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    // The subnet is drctl's again (the VPC's accepted drift is another story).
    let out = cli.ok(&["plan", &target]);
    assert!(!out.contains(&format!("# {SUBNET}")), "{out}");

    // A look-alike IAM role (same name, no ownership tags): the report
    // prints the import that adopts it, complete as printed (every taggable
    // kind is importable; crates/drctl/tests/import.rs runs them).
    let role = format!("trading-ec2-role-{env}");
    let iam = drctl_testkit::aws().await.iam("us-east-1");
    iam.create_role()
        .role_name(&role)
        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[]}"#)
        .send()
        .await
        .unwrap();
    let o = cli.run(&["plan", "--env", &env, "-target=global/iam/ec2-role"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "drctl import --env {env} global/iam/ec2-role {role}"
        )),
        "{err}"
    );
    assert!(!err.contains("drctl cannot import"), "{err}");
    iam.delete_role().role_name(&role).send().await.unwrap();

    cli.ok(&["destroy", "-auto-approve"]);
}

/// A TCP proxy to `upstream` that holds every chunk a client sends for
/// `delay`: each AWS call takes at least that long. Returns its URL.
fn slow_proxy(upstream: &str, delay: Duration) -> String {
    let upstream = upstream
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = std::net::TcpStream::connect(&upstream) else {
                continue;
            };
            let (mut c_read, mut s_write) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (mut s_read, mut c_write) = (server, client);
            std::thread::spawn(move || {
                let mut buf = [0u8; 65536];
                while let Ok(n) = c_read.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    std::thread::sleep(delay);
                    if s_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = s_write.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut s_read, &mut c_write);
                let _ = c_write.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    format!("http://127.0.0.1:{port}")
}

#[test]
fn first_ctrl_c_is_acknowledged_and_a_rerun_finishes_the_apply() {
    let mut cli = Cli::new("sigint");
    cli.endpoint = slow_proxy(&endpoint(), Duration::from_millis(400));
    let env = cli.env.clone();
    // The us-east-1 network: a dozen resources, one after another in part.
    let target = "-target=us-east-1/network/private-rt-assoc-1";
    let mut child = cli
        .command(&["apply", "--env", &env, target, "-auto-approve"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    // Interrupt as soon as the first change has started.
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push(line.clone());
        if line.contains(": Creating...") {
            break;
        }
    }
    assert!(seen.iter().any(|l| l.contains("Creating...")), "{seen:#?}");
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    seen.extend(lines.map(|l| l.unwrap()));
    let status = child.wait().unwrap();
    let err = err_reader.join().unwrap();
    let out = seen.join("\n");
    assert_eq!(
        status.code(),
        Some(1),
        "an interrupted apply is incomplete\n{out}\n{err}"
    );
    let ack = err
        .lines()
        .find(|l| l.starts_with("Interrupt received: finishing "))
        .unwrap_or_else(|| panic!("no acknowledgement:\n{err}"));
    assert!(
        ack.ends_with(" in flight, starting nothing new; press Ctrl-C again to exit now"),
        "{ack}"
    );
    let last = seen.last().unwrap();
    assert!(
        last.starts_with("Interrupted: ")
            && last.ends_with(&format!(
                " not started. Run `drctl apply --env {env} --target {}` again to finish them.",
                target.trim_start_matches("-target=")
            )),
        "{out}"
    );
    assert!(
        !out.contains("Errors:"),
        "no error per unstarted change:\n{out}"
    );
    // Running apply again finishes the job.
    let out = cli.ok(&["apply", target, "-auto-approve"]);
    assert!(out.contains("Apply complete!"), "{out}");
    cli.ok(&["destroy", "-auto-approve"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_existing_zone_must_exist_and_hold_the_domain() {
    let cli = Cli::new("zone");
    let r53 = drctl_testkit::aws().await.route53("us-east-1");
    let zone = r53
        .create_hosted_zone()
        .name("example.org")
        .caller_reference(cli.env.clone())
        .send()
        .await
        .unwrap();
    // The API's own spelling, /hostedzone/ prefix included (LocalStack's
    // ids do not start with Z).
    let id = zone.hosted_zone().unwrap().id().to_string();
    let file = cli.dir.path().join(format!("plans/{}.toml", cli.env));
    let dev = std::fs::read_to_string(&file).unwrap();
    let with = |zone_id: &str, domain: &str| {
        let text = dev
            .replace(
                "create_hosted_zone = true",
                &format!("hosted_zone_id = \"{zone_id}\""),
            )
            .replace(
                "domain_name = \"dev.trading.example.com\"",
                &format!("domain_name = \"{domain}\""),
            );
        std::fs::write(&file, text).unwrap();
    };
    let plan_err = || {
        let o = cli.run(&["plan", "--env", &cli.env]);
        assert_eq!(o.status.code(), Some(1));
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    with(&id, "dev.trading.example.com");
    let err = plan_err();
    let bare = id.trim_start_matches("/hostedzone/");
    assert!(
        err.contains(&format!("domain_name = \"dev.trading.example.com\" is not inside hosted zone {bare} (example.org)")),
        "{err}"
    );
    with("NOSUCHZONE0000", "dev.example.org");
    let err = plan_err();
    assert!(
        err.contains("hosted_zone_id = \"NOSUCHZONE0000\": no such hosted zone in this account"),
        "{err}"
    );
    with(&id, "trading.dev.example.org");
    let out = cli.ok(&["plan"]);
    assert!(out.contains("Plan: 75 to add"), "{out}");
    r53.delete_hosted_zone().id(&id).send().await.unwrap();
}

/// A call that keeps failing says so after a few seconds: `service:Op:
/// code, retrying (attempt N, Ms)`, and the plan still succeeds.
#[tokio::test(flavor = "multi_thread")]
async fn a_call_failing_for_a_while_says_it_is_retrying() {
    let cli = Cli::new("retrying");
    // Why 60: the SDK makes at most 5 attempts per call, so 60 failures are
    // at least 12 failed calls, shared by the two regions' DescribeAlarms;
    // one region sees at least 6, and the transient schedule's first 5
    // pauses alone (jitter at its least: 0.25+0.5+1+2+4 = 7.75 s) pass the 5 s
    // after which a retry is told. With 14 (3 calls) the SDK's full jitter
    // could end all retries within 5 s, silently (seen once in CI).
    let rules = drctl_chaos::Rules {
        fail_operation: [("monitoring:DescribeAlarms".to_string(), 60)].into(),
        ..Default::default()
    };
    let proxy = drctl_chaos::Proxy::start(([127, 0, 0, 1], 0).into(), &cli.endpoint, rules)
        .await
        .unwrap();
    let mut c = cli.command(&["plan", "--env", &cli.env, "--endpoint", &proxy.url()]);
    let o = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("cloudwatch:DescribeAlarms: InternalServerError, retrying (attempt "),
        "{err}"
    );
    let seen = proxy.stats().per_operation["monitoring:DescribeAlarms"];
    assert!(
        seen > 60,
        "the call got through in the end ({seen} requests)"
    );
}
