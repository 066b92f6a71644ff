//! Two runs on one state, through the binary: one wins, the other fails at
//! once naming the holder; force-unlock never frees a live run's lock; a lock
//! left by a SIGKILLed run is taken over by the next run, with a warning.
//!
//! No AWS needed: the winner is held inside its first AWS call by an
//! endpoint that accepts connections and never answers.

use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const PLAN: &str = "domain_name = \"qa.example.com\"\nalert_email = \"qa@example.com\"\ncreate_hosted_zone = true\n";
const STATE: &str = r#"{"format_version": 1, "lineage": "5b0e8c4e-0000-4000-8000-000000000001", "serial": 3, "env": "qa-1", "account": "123456789012", "resources": {}, "pending": {}, "generations": {}}"#;

/// An endpoint that takes every connection and never answers.
fn black_hole() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().flatten() {
            held.push(s);
        }
    });
    url
}

fn drctl(dir: &Path, endpoint: &str, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_drctl"));
    c.args(args)
        .args(["--endpoint", endpoint])
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn stderr_of(c: &mut Child) -> String {
    let mut s = String::new();
    c.stderr.take().unwrap().read_to_string(&mut s).unwrap();
    s
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn two_applies_one_wins_the_other_fails_naming_it_and_a_killed_holder_is_taken_over() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("plans")).unwrap();
    std::fs::create_dir_all(d.path().join(".drctl")).unwrap();
    std::fs::write(d.path().join("plans/qa-1.toml"), PLAN).unwrap();
    let state = d.path().join(".drctl/qa-1.state.json");
    let lock = d.path().join(".drctl/qa-1.state.json.lock");
    std::fs::write(&state, STATE).unwrap();
    let hole = black_hole();

    let apply = ["apply", "--env", "qa-1", "--auto-approve"];
    let mut a = drctl(d.path(), &hole, &apply).spawn().unwrap();
    let mut b = drctl(d.path(), &hole, &apply).spawn().unwrap();
    // The loser exits on its own, while the winner is still in its apply.
    let started = Instant::now();
    let (mut winner, mut loser, status) = loop {
        if let Some(s) = a.try_wait().unwrap() {
            break (b, a, s);
        }
        if let Some(s) = b.try_wait().unwrap() {
            break (a, b, s);
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "both applies are still running: neither was refused"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    println!("the second apply was refused after {:?}", started.elapsed());
    let err = stderr_of(&mut loser);
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        winner.try_wait().unwrap().is_none(),
        "the winner still runs"
    );
    assert!(
        err.contains(&format!(
            "state is locked by 'drctl apply' (pid {} on ",
            winner.id()
        )),
        "{err}"
    );
    assert!(
        err.contains("that run is still going on this host"),
        "{err}"
    );
    let id = err
        .split("lock id ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .unwrap()
        .to_string();

    // force-unlock refuses the live holder, even with its id and --force.
    let o = drctl(
        d.path(),
        &hole,
        &["force-unlock", &id, "--env", "qa-1", "--force"],
    )
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("which is running on this host"),
        "{}",
        text(&o)
    );
    assert!(lock.exists());

    // SIGKILL: the lock file stays behind.
    winner.kill().unwrap();
    winner.wait().unwrap();
    assert!(lock.exists());
    assert_eq!(std::fs::read_to_string(&state).unwrap(), STATE, "untouched");

    // The next run takes it over and says whose it was. (`--refresh=false`
    // with a state that knows its account makes no AWS call.)
    let o = drctl(
        d.path(),
        &hole,
        &["plan", "--env", "qa-1", "--refresh=false"],
    )
    .output()
    .unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains(&format!(
            "Warning: took over the state lock of 'drctl apply' (pid {} on ",
            winner.id()
        )),
        "{out}"
    );
    assert!(out.contains("no longer running on this host"), "{out}");
    assert!(!lock.exists(), "released when the plan ended");
    // The state is still valid drctl state, unchanged.
    let o = drctl(d.path(), &hole, &["state", "list", "--env", "qa-1"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&state).unwrap(), STATE);
}

#[test]
fn force_unlock_takes_the_lock_id_and_removes_a_lock_from_another_host() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("plans")).unwrap();
    std::fs::create_dir_all(d.path().join(".drctl")).unwrap();
    std::fs::write(d.path().join("plans/qa-1.toml"), PLAN).unwrap();
    let lock = d.path().join(".drctl/qa-1.state.json.lock");
    std::fs::write(&lock, r#"{"id": "7f3a", "pid": 1, "host": "ci-runner-7", "command": "drctl apply", "started_at": "2026-01-01T00:00:00Z"}"#).unwrap();
    let hole = black_hole();
    let o = drctl(d.path(), &hole, &["plan", "--env", "qa-1"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("Error: state is locked by 'drctl apply' (pid 1 on ci-runner-7, since 2026-01-01T00:00:00Z) (lock id 7f3a); if that run is gone, remove the lock with `drctl force-unlock 7f3a`"),
        "{}",
        text(&o)
    );
    // A wrong id is refused and says the right one.
    let o = drctl(
        d.path(),
        &hole,
        &["force-unlock", "beef", "--env", "qa-1", "--force"],
    )
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("has id 7f3a, not beef"), "{}", text(&o));
    assert!(lock.exists());
    // Without a terminal and without --force: asks, cannot, keeps it.
    let o = drctl(d.path(), &hole, &["force-unlock", "7f3a", "--env", "qa-1"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("no terminal to ask for confirmation"),
        "{}",
        text(&o)
    );
    assert!(lock.exists());
    let o = drctl(
        d.path(),
        &hole,
        &["force-unlock", "7f3a", "--env", "qa-1", "--force"],
    )
    .output()
    .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("Removed the lock 7f3a held by 'drctl apply' (pid 1 on ci-runner-7"),
        "{}",
        text(&o)
    );
    assert!(!lock.exists());
}
