//! Bad input, through the binary, in cargo's CLI-test style: given files,
//! run one command, compare the whole output (temp paths redacted) with a
//! snapshot. Every case must exit 1 with one clear error, never panic, and
//! change no file (checksums of every file before and after).
//!
//! No emulator needed: the endpoint cases use a closed port and a local
//! server that answers STS as AWS does for a bad key.

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};

const GOOD: &str = "domain_name = \"qa.example.com\"\nalert_email = \"qa@example.com\"\ncreate_hosted_zone = true\n";
const LINEAGE: &str = "5b0e8c4e-0000-4000-8000-000000000001";
const STATE: &str = r#"{"format_version": 1, "lineage": "5b0e8c4e-0000-4000-8000-000000000001", "serial": 3, "env": "qa-1", "account": "123456789012", "resources": {}, "pending": {}, "generations": {}}"#;

fn checksums(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                out.insert(rel, hex::encode(Sha256::digest(std::fs::read(&p).unwrap())));
            }
        }
    }
    out
}

/// Writes `files` into a fresh folder, runs drctl there, checks exit 1, no
/// panic, no file changed; returns stdout + stderr with the folder redacted.
fn fails(files: &[(&str, &str)], args: &[&str]) -> String {
    let d = tempfile::tempdir().unwrap();
    for (name, body) in files {
        let p = d.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
    fails_in(d.path(), args)
}

fn fails_in(dir: &Path, args: &[&str]) -> String {
    let before = checksums(dir);
    let o = Command::new(env!("CARGO_BIN_EXE_drctl"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env(
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        )
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("HOME", dir)
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let out = format!(
        "exit: {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(!out.contains("panicked"), "{out}");
    assert_eq!(checksums(dir), before, "no file changed: {out}");
    out.replace(&dir.display().to_string(), "[ROOT]")
}

macro_rules! case {
    ($name:ident, $files:expr, $args:expr) => {
        #[test]
        fn $name() {
            insta::assert_snapshot!(fails($files, $args));
        }
    };
}

case!(
    malformed_toml,
    &[(
        "plans/qa-1.toml",
        "domain_name = \"qa.example.com\"\nmin_size = \nmax_size = 3\n"
    )],
    &["validate", "--env", "qa-1"]
);
case!(
    unknown_top_level_key_with_a_suggestion,
    &[(
        "plans/qa-1.toml",
        &format!("{GOOD}min_sise = 3\nfoo = \"bar\"\n")
    )],
    &["plan", "--env", "qa-1"]
);
case!(
    unknown_table,
    &[(
        "plans/qa-1.toml",
        &format!("{GOOD}[network]\ncidr = \"10.0.0.0/16\"\n")
    )],
    &["validate", "--env", "qa-1"]
);
case!(
    bad_tags_entries_name_the_key_and_the_table,
    &[(
        "plans/qa-1.toml",
        &format!("{GOOD}[tags]\nCostCenter = 1\nTeam = \"ops\"\nmin_size = 3\n[tags.nested]\nx = \"y\"\n")
    )],
    &["validate", "--env", "qa-1"]
);
case!(
    tags_not_a_table,
    &[("plans/qa-1.toml", &format!("tags = \"ops\"\n{GOOD}"))],
    &["validate", "--env", "qa-1"]
);
case!(
    values_of_the_wrong_type,
    &[(
        "plans/qa-1.toml",
        "domain_name = 7\nalert_email = [\"qa@example.com\"]\ncreate_hosted_zone = \"yes\"\nmin_size = \"2\"\nmax_size = 2.5\ndb_deletion_protection = 1\nprimary_region = { name = \"us-east-1\" }\n"
    )],
    &["validate", "--env", "qa-1"]
);
case!(
    every_invalid_value_at_once,
    &[(
        "plans/qa-1.toml",
        concat!(
            "env = \"qa-2\"\n",
            "primary_region = \"us-east-9x\"\n",
            "secondary_region = \"us-east-9x\"\n",
            "primary_vpc_cidr = \"10.0.0.0/24\"\n",
            "secondary_vpc_cidr = \"10.1.0.1/16\"\n",
            "instance_type = \"\"\n",
            "secondary_instance_type = \" \"\n",
            "db_instance_class = \"\"\n",
            "db_engine_version = \"\"\n",
            "db_allocated_storage = 10\n",
            "min_size = 0\n",
            "max_size = 2000\n",
            "desired_capacity = 3000\n",
            "hosted_zone_id = \"zone-1\"\n",
            "create_hosted_zone = true\n",
            "domain_name = \"Not A Domain\"\n",
            "health_check_path = \"health\"\n",
            "alert_email = \"ops-at-example.com\"\n",
            "image_id = \"ubuntu\"\n",
            "[tags]\n",
            "\"aws:owner\" = \"x\"\n",
            "Name = \"y\"\n",
            "\"drctl:env\" = \"z\"\n",
        )
    )],
    &["validate", "--env", "qa-1"]
);
case!(
    the_remaining_invalid_values,
    &[(
        "plans/qa-1.toml",
        concat!(
            "primary_vpc_cidr = \"10.0.0.0/16\"\n",
            "secondary_vpc_cidr = \"10.0.128.0/17\"\n",
            "min_size = 3\n",
            "max_size = 2\n",
            "db_allocated_storage = 70000\n",
            "hosted_zone_id = \"Z123\"\n",
            "domain_name = \"qa.example.com\"\n",
            "health_check_path = \"/has space\"\n",
            "[tags]\n",
            "Environment = \"prod\"\n",
        )
    )],
    &["validate", "--env", "qa-1"]
);
case!(
    missing_required_keys_and_a_bad_env_name,
    &[("plans/QA_1.toml", "primary_vpc_cidr = \"not-a-cidr\"\n")],
    &["validate", "--env", "QA_1"]
);
case!(
    no_plan_file,
    &[("plans/qa-1.toml", GOOD)],
    &["plan", "--env", "qa-2"]
);
case!(
    truncated_state,
    &[
        ("plans/qa-1.toml", GOOD),
        (".drctl/qa-1.state.json", &STATE[..90])
    ],
    &["plan", "--env", "qa-1"]
);
case!(
    state_of_the_wrong_shape,
    &[
        ("plans/qa-1.toml", GOOD),
        (
            ".drctl/qa-1.state.json",
            &STATE.replace("\"serial\": 3", "\"serial\": \"three\"")
        )
    ],
    &["state", "list", "--env", "qa-1"]
);
case!(
    state_from_a_future_version,
    &[
        ("plans/qa-1.toml", GOOD),
        (
            ".drctl/qa-1.state.json",
            &STATE.replace("\"format_version\": 1", "\"format_version\": 3")
        )
    ],
    &["plan", "--env", "qa-1"]
);
case!(
    state_of_another_env,
    &[
        ("plans/qa-1.toml", GOOD),
        (
            ".drctl/qa-1.state.json",
            &STATE.replace("\"qa-1\"", "\"qa-2\"")
        )
    ],
    &["apply", "--env", "qa-1", "--auto-approve"]
);
case!(
    endpoint_without_a_scheme,
    &[("plans/qa-1.toml", GOOD), (".drctl/qa-1.state.json", STATE)],
    &["plan", "--env", "qa-1", "--endpoint", "localhost:4566"]
);
case!(
    unreachable_endpoint,
    &[("plans/qa-1.toml", GOOD), (".drctl/qa-1.state.json", STATE)],
    &["plan", "--env", "qa-1", "--endpoint", "http://127.0.0.1:9"]
);
case!(
    not_a_plan_file,
    &[("plans/qa-1.toml", GOOD), ("x.plan", "{\"hello\": 1}")],
    &["apply", "x.plan"]
);

/// A saved plan for `env` against the seeded state.
fn saved_plan(env: &str) -> String {
    let plan = drctl_core::plan::Plan {
        format_version: drctl_core::plan::PLAN_FORMAT_VERSION.into(),
        env: env.into(),
        lineage: LINEAGE.into(),
        serial: 3,
        destroy: false,
        changes: vec![],
        forget: vec![],
        warnings: vec![],
        orphans: vec![],
        deposed: vec![],
    };
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("p.plan");
    drctl::savedplan::write(&p, &plan, &"0".repeat(64)).unwrap();
    std::fs::read_to_string(p).unwrap()
}

#[test]
fn saved_plan_for_another_env() {
    let plan = saved_plan("qa-2");
    insta::assert_snapshot!(fails(
        &[
            ("plans/qa-1.toml", GOOD),
            (".drctl/qa-1.state.json", STATE),
            ("qa-2.plan", &plan)
        ],
        &["apply", "qa-2.plan", "--env", "qa-1"]
    ));
}

#[test]
fn hand_edited_saved_plan() {
    let plan = saved_plan("qa-1").replacen("\"serial\": 3", "\"serial\": 4", 1);
    insta::assert_snapshot!(fails(
        &[
            ("plans/qa-1.toml", GOOD),
            (".drctl/qa-1.state.json", STATE),
            ("qa-1.plan", &plan)
        ],
        &["apply", "qa-1.plan"]
    ));
}

#[test]
fn saved_plan_made_before_the_env_plan_changed() {
    // The seal is intact, but plans/qa-1.toml is not the one planned.
    let plan = saved_plan("qa-1");
    insta::assert_snapshot!(fails(
        &[
            ("plans/qa-1.toml", GOOD),
            (".drctl/qa-1.state.json", STATE),
            ("qa-1.plan", &plan)
        ],
        &["apply", "qa-1.plan", "--endpoint", "http://127.0.0.1:9"]
    ));
}

/// Answers every request as STS answers a key it does not know.
fn sts_rejecting_the_key() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let mut buf = vec![0u8; 65536];
            let mut got = Vec::new();
            // Headers, then as much body as Content-Length says.
            loop {
                let n = s.read(&mut buf).unwrap_or(0);
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got).to_lowercase();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if got.len() >= end + 4 + len {
                        break;
                    }
                }
            }
            let body = "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>InvalidClientTokenId</Code><Message>The security token included in the request is invalid.</Message></Error><RequestId>4f1c0d2e-0000-4000-8000-000000000000</RequestId></ErrorResponse>";
            let _ = write!(
                s,
                "HTTP/1.1 403 Forbidden\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

#[test]
fn wrong_credentials() {
    let url = sts_rejecting_the_key();
    let out = fails(
        &[("plans/qa-1.toml", GOOD), (".drctl/qa-1.state.json", STATE)],
        &[
            "apply",
            "--env",
            "qa-1",
            "--auto-approve",
            "--endpoint",
            &url,
        ],
    );
    insta::assert_snapshot!(out.replace(&url, "http://[STS]"));
}
