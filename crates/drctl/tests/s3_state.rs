//! Shared state in S3 (issue 13), through the drctl binary against the
//! LocalStack harness: the dev stack applied with S3 state by a run that is
//! SIGKILLed, its lease expiring and the next run taking over and
//! converging while a second apply fails naming the holder and its CI run;
//! pull, push refusing a lower serial, migrate S3 -> local -> S3 -> local
//! byte for byte, destroy — plus a stale-ETag writer on the backend itself.

use drctl_aws::s3_state::{S3Location, S3Store};
use drctl_core::backend::StateBackend;
use drctl_core::remote::{LeaseConfig, RemoteBackend};
use drctl_core::state::StateStore;
use drctl_testkit::{endpoint, unique_env};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
    fn command(&self, args: &[&str], extra_env: &[(&str, &str)]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_drctl"));
        c.args(args)
            .current_dir(self.dir.path())
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("NO_COLOR", "1")
            .env("DRCTL_CALL_LOG", self.path("calls.json"))
            .env_remove("GITHUB_RUN_ID")
            .stdin(Stdio::null());
        for (k, v) in extra_env {
            c.env(k, v);
        }
        c
    }
    fn run(&self, args: &[&str], extra_env: &[(&str, &str)]) -> Output {
        self.command(args, extra_env).output().unwrap()
    }
    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args, &[]);
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(
            o.status.success(),
            "drctl {args:?} failed:\n{out}\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        out
    }
    fn spawn(&self, args: &[&str], extra_env: &[(&str, &str)]) -> Child {
        self.command(args, extra_env)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
    fn use_s3_state(&self, bucket: &str, key: &str) {
        let plan = self.path(&format!("plans/{}.toml", self.env));
        let mut text = std::fs::read_to_string(&plan).unwrap();
        text.push_str(&format!(
            "\n[state]\nbackend = \"s3\"\nbucket = \"{bucket}\"\nkey = \"{key}\"\nregion = \"us-east-1\"\n"
        ));
        std::fs::write(plan, text).unwrap();
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

async fn s3() -> aws_sdk_s3::Client {
    drctl_testkit::aws().await.s3("us-east-1")
}

async fn bucket(versioned: bool) -> String {
    let name = unique_env("state");
    let s3 = s3().await;
    s3.create_bucket().bucket(&name).send().await.unwrap();
    if versioned {
        s3.put_bucket_versioning()
            .bucket(&name)
            .versioning_configuration(
                aws_sdk_s3::types::VersioningConfiguration::builder()
                    .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    name
}

async fn object(bucket: &str, key: &str) -> Option<Vec<u8>> {
    let got = s3().await.get_object().bucket(bucket).key(key).send().await;
    match got {
        Ok(o) => Some(o.body.collect().await.unwrap().to_vec()),
        Err(_) => None,
    }
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap()
}

/// Waits until `key` exists (a run has taken the lock).
async fn wait_for(bucket: &str, key: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while object(bucket, key).await.is_none() {
        assert!(Instant::now() < deadline, "{key} never appeared");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dev_stack_with_state_in_s3() {
    let cli = Cli::new("s3st");
    let env = cli.env.clone();
    let bucket = bucket(true).await;
    let key = format!("envs/{env}.state.json");
    let lock_key = format!("{key}.lock");
    cli.use_s3_state(&bucket, &key);
    let lease = [("DRCTL_LOCK_LEASE", "4s")];

    // A first apply, SIGKILLed while it creates the stack, leaves its lock.
    let mut killed = cli.spawn(&["apply", "--env", &env, "--auto-approve"], &lease);
    wait_for(&bucket, &lock_key).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let serial = object(&bucket, &key)
            .await
            .map(|b| json(&b)["serial"].as_u64().unwrap())
            .unwrap_or(0);
        assert!(Instant::now() < deadline, "the apply never got going");
        if serial >= 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    killed.kill().unwrap();
    let _ = killed.wait();
    let lock = object(&bucket, &lock_key)
        .await
        .expect("a killed run leaves its lock");
    let dead_id = json(&lock)["id"].as_str().unwrap().to_string();
    let partial = json(&object(&bucket, &key).await.unwrap());
    assert!(
        partial["resources"].as_object().unwrap().len() < 76,
        "killed mid-apply"
    );

    // While its lease runs the env stays locked.
    let o = cli.run(&["apply", "--env", &env, "--auto-approve"], &lease);
    assert!(
        !o.status.success(),
        "the lease is still live right after the kill"
    );
    assert!(stderr(&o).contains(&dead_id), "{}", stderr(&o));

    // Once it expired, a run (in "CI") takes over, naming the old holder, and
    // converges; a second apply started meanwhile fails at once, naming the
    // holder and its CI run.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let ci = [
        ("DRCTL_LOCK_LEASE", "4s"),
        ("GITHUB_RUN_ID", "4242"),
        ("GITHUB_REPOSITORY", "acme/trading-infra"),
        ("GITHUB_SERVER_URL", "https://github.com"),
    ];
    let taker = cli.spawn(&["apply", "--env", &env, "--auto-approve"], &ci);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let id = object(&bucket, &lock_key)
            .await
            .map(|b| json(&b)["id"].as_str().unwrap_or_default().to_string());
        if id.is_some_and(|id| id != dead_id) {
            break;
        }
        assert!(Instant::now() < deadline, "the lock was never taken over");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = Instant::now();
    let second = cli.run(&["apply", "--env", &env, "--auto-approve"], &[]);
    let waited = started.elapsed();
    let err = stderr(&second);
    assert!(!second.status.success(), "{err}");
    assert!(err.contains("is locked by 'drctl apply'"), "{err}");
    assert!(
        err.contains("CI run https://github.com/acme/trading-infra/actions/runs/4242"),
        "{err}"
    );
    assert!(
        waited < Duration::from_secs(10),
        "failed at once, not after {waited:?}"
    );
    let taker = taker.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&taker.stderr);
    assert!(taker.status.success(), "{err}");
    assert!(err.contains("took over the state lock"), "{err}");
    assert!(err.contains(&dead_id), "names the old holder: {err}");
    assert!(
        object(&bucket, &lock_key).await.is_none(),
        "released on exit"
    );
    let o = cli.run(&["plan", "--env", &env, "--detailed-exitcode"], &[]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "converged: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    let calls = json(&std::fs::read(cli.path("calls.json")).unwrap());
    assert_eq!(calls["state:s3:GetObject"], 1, "{calls}");
    let stored = object(&bucket, &key).await.unwrap();
    assert_eq!(json(&stored)["resources"].as_object().unwrap().len(), 76);
    let head = s3()
        .await
        .head_object()
        .bucket(&bucket)
        .key(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.server_side_encryption(),
        Some(&aws_sdk_s3::types::ServerSideEncryption::Aes256)
    );

    // pull prints the stored document; push refuses an older one.
    let pulled = cli.ok(&["state", "pull", "--env", &env]);
    assert_eq!(pulled.as_bytes(), &stored[..]);
    std::fs::write(cli.path("old.json"), &pulled).unwrap();
    let plan_file = cli.path(&format!("plans/{env}.toml"));
    let text = std::fs::read_to_string(&plan_file).unwrap();
    std::fs::write(&plan_file, text.replace("max_size = 2", "max_size = 3")).unwrap();
    cli.ok(&["apply", "--env", &env, "--auto-approve"]);
    let before = object(&bucket, &key).await.unwrap();
    assert!(json(&before)["serial"].as_u64() > json(&stored)["serial"].as_u64());
    let o = cli.run(&["state", "push", "old.json", "--env", &env], &[]);
    let err = stderr(&o);
    assert!(!o.status.success());
    assert!(err.contains("lower serial"), "{err}");
    assert_eq!(
        object(&bucket, &key).await.unwrap(),
        before,
        "nothing was written"
    );

    // migrate S3 -> local -> S3 -> local: byte for byte, lineage and serial kept.
    let url = format!("s3://{bucket}/{key}");
    let local = cli.path("local.state.json");
    let out = cli.ok(&[
        "state",
        "migrate",
        "--env",
        &env,
        "--to",
        local.to_str().unwrap(),
    ]);
    assert!(out.contains("verified"), "{out}");
    assert_eq!(std::fs::read(&local).unwrap(), before);
    let url2 = format!("s3://{bucket}/copies/{env}.json");
    cli.ok(&[
        "state",
        "migrate",
        "--env",
        &env,
        "--state",
        local.to_str().unwrap(),
        "--to",
        &url2,
    ]);
    assert_eq!(
        object(&bucket, &format!("copies/{env}.json"))
            .await
            .unwrap(),
        before
    );
    let back = cli.path("back.state.json");
    cli.ok(&[
        "state",
        "migrate",
        "--env",
        &env,
        "--state",
        &url2,
        "--to",
        back.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read(&back).unwrap(),
        std::fs::read(&local).unwrap(),
        "local -> S3 -> local"
    );
    assert!(
        object(&bucket, &lock_key).await.is_none(),
        "migrate released the source lock"
    );
    let _ = url;

    // Destroy with the S3 state; meanwhile force-unlock with a wrong id
    // changes nothing.
    let destroyer = cli.spawn(&["destroy", "--env", &env, "--auto-approve"], &[]);
    wait_for(&bucket, &lock_key).await;
    let id = json(&object(&bucket, &lock_key).await.unwrap())["id"]
        .as_str()
        .unwrap()
        .to_string();
    let o = cli.run(
        &["force-unlock", "not-the-id", "--env", &env, "--force"],
        &[],
    );
    assert!(
        !o.status.success() && stderr(&o).contains(&id),
        "{}",
        stderr(&o)
    );
    let destroyed = destroyer.wait_with_output().unwrap();
    assert!(
        destroyed.status.success(),
        "{}",
        String::from_utf8_lossy(&destroyed.stderr)
    );
    let after = json(&object(&bucket, &key).await.unwrap());
    assert!(
        after["resources"].as_object().unwrap().is_empty(),
        "{after}"
    );
    assert!(object(&bucket, &lock_key).await.is_none());
}

async fn backend(bucket: &str, key: &str) -> RemoteBackend {
    let aws = drctl_testkit::aws().await;
    let store = S3Store::new(
        &aws,
        &S3Location {
            bucket: bucket.into(),
            key: key.into(),
            region: Some("us-east-1".into()),
            kms_key_id: None,
        },
    );
    RemoteBackend::new(
        Arc::new(store),
        key,
        LeaseConfig::with_lease(Duration::from_secs(60)),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_writer_with_a_stale_etag_fails_and_changes_nothing() {
    let bucket = bucket(false).await;
    let key = "dev.state.json";
    let b = backend(&bucket, key).await;
    let mut first = StateStore::open_in(Arc::new(b.clone()), "dev").unwrap();
    first.save().unwrap();
    // Two writers read the same version; one holds the lock and writes.
    let mut stale = StateStore::open_in(Arc::new(b.clone()), "dev").unwrap();
    let other = backend(&bucket, key).await;
    let lock = other.lock("drctl apply", Duration::ZERO).unwrap();
    let mut winner = StateStore::open_in(Arc::new(other.clone()), "dev").unwrap();
    winner.save().unwrap();
    let before = object(&bucket, key).await.unwrap();
    stale.state.account = Some("000000000000".into());
    let err = stale.save().unwrap_err().to_string();
    assert!(err.contains("changed by another writer"), "{err}");
    assert!(err.contains(lock.id()), "names the lock holder: {err}");
    assert_eq!(
        object(&bucket, key).await.unwrap(),
        before,
        "nothing was written"
    );
    assert_eq!(json(&before)["serial"], 2);
    // A new state cannot be created twice either.
    let fresh = backend(&bucket, "new.json").await;
    let mut x = StateStore::open_in(Arc::new(fresh.clone()), "dev").unwrap();
    let mut y = StateStore::open_in(Arc::new(fresh), "dev").unwrap();
    x.save().unwrap();
    assert!(y.save().is_err());
    assert!(b.location().starts_with("s3://"));
}
