//! Where an environment's state lives: the `[state]` table of its plan, or
//! `--state` on the command line (which wins).
//!
//! ```toml
//! [state]
//! backend = "s3"                          # or "local" (the default without a table)
//! bucket = "acme-drctl-state"             # S3 bucket name rules
//! key = "drctl/prod-dr.state.json"        # default drctl/<env>.state.json
//! region = "us-east-1"                    # default: AWS_REGION / profile, else us-east-1
//! kms_key_id = "alias/drctl-state"        # optional: SSE-KMS, else SSE-S3 (AES256)
//! ```

use serde::Deserialize;
use std::ops::Range;
use std::path::PathBuf;
use toml::Spanned;

/// The state backend an env uses.
#[derive(Clone, Debug, PartialEq)]
pub enum StateConfig {
    /// A local file; `None`: `.drctl/<env>.state.json`.
    Local(Option<PathBuf>),
    /// An S3 object with ETag-conditional writes and a lease lock beside it.
    S3(S3State),
}

#[derive(Clone, Debug, PartialEq)]
/// `[state] backend = "s3"`, checked: the bucket and key are valid names.
pub struct S3State {
    /// Bucket name, [`BUCKET_PATTERN`]; it should have versioning on (drctl keeps backups there).
    pub bucket: String,
    /// Object key (default `drctl/<env>.state.json`): no leading or trailing `/`, not ending
    /// in `.lock` (the lock object is `<key>.lock`), at most 1000 bytes.
    pub key: String,
    /// The bucket's region; `None`: `AWS_REGION` or the profile's, else `us-east-1`.
    pub region: Option<String>,
    /// KMS key for SSE-KMS (key id, key ARN, `alias/NAME` or alias ARN); `None`: SSE-S3 (AES256).
    pub kms_key_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawState {
    backend: Option<Spanned<String>>,
    bucket: Option<Spanned<String>>,
    key: Option<Spanned<String>>,
    region: Option<Spanned<String>>,
    kms_key_id: Option<Spanned<String>>,
}

/// S3 bucket naming rules (3–63 lowercase letters, digits, dots, hyphens).
pub const BUCKET_PATTERN: &str = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$";
/// A key id, key ARN, alias name or alias ARN.
const KMS_PATTERN: &str = r"^(arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key|alias)/[A-Za-z0-9/_-]+|alias/[A-Za-z0-9/_-]+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$";

fn re(p: &str) -> regex::Regex {
    regex::Regex::new(p).expect("built-in pattern")
}

/// What is wrong with a bucket name, if anything.
pub fn check_bucket(b: &str) -> Option<String> {
    if !re(BUCKET_PATTERN).is_match(b) || b.contains("..") {
        return Some(format!("'{b}' is not an S3 bucket name: 3–63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit"));
    }
    None
}

/// What is wrong with an object key, if anything.
pub fn check_key(k: &str) -> Option<String> {
    if k.is_empty() || k.ends_with('/') {
        return Some(format!(
            "'{k}' is not an object key: give a file name like drctl/dev.state.json"
        ));
    }
    if k.starts_with('/') {
        return Some(format!("'{k}' must not start with '/'"));
    }
    if k.len() > 1000 {
        return Some("is longer than 1000 bytes (S3 allows 1024, and drctl adds .lock)".into());
    }
    if k.ends_with(".lock") {
        return Some(format!(
            "'{k}' ends in .lock, which drctl uses for the lock object next to the state"
        ));
    }
    None
}

/// `--state`: `s3://bucket/key` or a local path; any other `scheme://` is an error.
pub fn parse_state_arg(arg: &str) -> Result<StateConfig, String> {
    let Some((scheme, rest)) = arg.split_once("://") else {
        return Ok(StateConfig::Local(Some(PathBuf::from(arg))));
    };
    if scheme != "s3" {
        return Err(format!(
            "--state {arg}: the {scheme}:// scheme is not supported; use s3://BUCKET/KEY or a local file path"
        ));
    }
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    if let Some(why) = check_bucket(bucket) {
        return Err(format!("--state {arg}: bucket {why}"));
    }
    if let Some(why) = check_key(key) {
        return Err(format!(
            "--state {arg}: key {why} (the form is s3://BUCKET/KEY)"
        ));
    }
    Ok(StateConfig::S3(S3State {
        bucket: bucket.into(),
        key: key.into(),
        region: None,
        kms_key_id: None,
    }))
}

/// Records one problem: key, where in the file, what is wrong.
pub(crate) type Report<'a> = dyn FnMut(&str, Option<Range<usize>>, String) + 'a;

/// Validates the `[state]` table, reporting each bad value with its key.
pub(crate) fn check(
    raw: &Option<Spanned<RawState>>,
    env: &str,
    region_pattern: &str,
    bad: &mut Report,
) -> StateConfig {
    let Some(raw) = raw else {
        return StateConfig::Local(None);
    };
    let table = raw.span();
    let raw = raw.get_ref();
    if !backend_is_s3(raw, &table, bad) {
        return StateConfig::Local(None);
    }
    StateConfig::S3(s3_state(raw, &table, env, region_pattern, bad))
}

/// A spanned string setting, trimmed, with where it is in the file.
fn trimmed(v: &Option<Spanned<String>>) -> Option<(String, Range<usize>)> {
    v.as_ref()
        .map(|s| (s.get_ref().trim().to_string(), s.span()))
}

/// Whether `backend = "s3"`. Reports a missing backend (at the `[state]`
/// table's span, `table`), an unknown one (at its value), and each S3 key
/// given with `backend = "local"`.
fn backend_is_s3(raw: &RawState, table: &Range<usize>, bad: &mut Report) -> bool {
    let backend = trimmed(&raw.backend);
    match backend.as_ref().map(|(b, _)| b.as_str()) {
        Some("s3") => true,
        Some("local") => {
            for (k, v) in [
                ("bucket", &raw.bucket),
                ("key", &raw.key),
                ("region", &raw.region),
                ("kms_key_id", &raw.kms_key_id),
            ] {
                if let Some(v) = v {
                    bad(
                        &format!("state.{k}"),
                        Some(v.span()),
                        "only applies to backend = \"s3\"; remove it or set backend = \"s3\""
                            .into(),
                    );
                }
            }
            false
        }
        Some(other) => {
            bad(
                "state.backend",
                backend.as_ref().map(|b| b.1.clone()),
                format!("'{other}' is not a state backend; use \"s3\" or \"local\""),
            );
            false
        }
        None => {
            bad("state.backend", Some(table.clone()), "is missing: set backend = \"s3\" (with bucket and key), or remove the [state] table for the local file".into());
            false
        }
    }
}

/// The S3 state's settings, each reported when bad: the bucket (required;
/// its naming rules), the key (default `drctl/<env>.state.json`), the
/// region and the KMS key id (optional).
fn s3_state(
    raw: &RawState,
    table: &Range<usize>,
    env: &str,
    region_pattern: &str,
    bad: &mut Report,
) -> S3State {
    let bucket = match trimmed(&raw.bucket) {
        Some((b, span)) => {
            if let Some(why) = check_bucket(&b) {
                bad("state.bucket", Some(span), why);
            }
            b
        }
        None => {
            bad("state.bucket", Some(table.clone()), "is required with backend = \"s3\": the bucket holding the state (create it with versioning on)".into());
            String::new()
        }
    };
    let key = match trimmed(&raw.key) {
        Some((k, span)) => {
            if let Some(why) = check_key(&k) {
                bad("state.key", Some(span), why);
            }
            k
        }
        None => format!("drctl/{env}.state.json"),
    };
    let region = trimmed(&raw.region).map(|(r, span)| {
        if !re(region_pattern).is_match(&r) {
            bad(
                "state.region",
                Some(span),
                format!("'{r}' is not an AWS region name (like us-east-1)"),
            );
        }
        r
    });
    let kms_key_id = trimmed(&raw.kms_key_id).map(|(k, span)| {
        if !re(KMS_PATTERN).is_match(&k) {
            bad(
                "state.kms_key_id",
                Some(span),
                format!("'{k}' is not a KMS key id, key ARN, alias/NAME or alias ARN"),
            );
        }
        k
    });
    S3State {
        bucket,
        key,
        region,
        kms_key_id,
    }
}

/// Only the `[state]` table of `plans/<env>.toml` (other keys are not
/// checked), so that state commands and force-unlock work on a plan that
/// is otherwise being edited. No file: the local default.
pub fn load(
    dir: &std::path::Path,
    env: &str,
) -> Result<StateConfig, crate::envplan::PlanFileError> {
    use crate::envplan::{PlanFileError, Problem};
    #[derive(Deserialize)]
    struct OnlyState {
        state: Option<Spanned<RawState>>,
    }
    let file = crate::envplan::plan_path(dir, env);
    let Ok(text) = std::fs::read_to_string(&file) else {
        return Ok(StateConfig::Local(None));
    };
    let line_of = |o: usize| text[..o.min(text.len())].matches('\n').count() + 1;
    let raw: OnlyState = toml::from_str(&text).map_err(|e| PlanFileError {
        file: file.clone(),
        problems: vec![Problem {
            key: "state".into(),
            line: e.span().map(|s| line_of(s.start)),
            message: e.message().trim().to_string(),
        }],
    })?;
    let mut problems = Vec::new();
    let cfg = check(
        &raw.state,
        env,
        crate::envplan::REGION_PATTERN,
        &mut |key, span, message| {
            problems.push(Problem {
                key: key.into(),
                line: span.map(|s| line_of(s.start)),
                message,
            })
        },
    );
    if problems.is_empty() {
        Ok(cfg)
    } else {
        Err(PlanFileError { file, problems })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_urls() {
        assert_eq!(
            parse_state_arg("s3://acme-state/envs/dev.json").unwrap(),
            StateConfig::S3(S3State {
                bucket: "acme-state".into(),
                key: "envs/dev.json".into(),
                region: None,
                kms_key_id: None
            })
        );
        assert_eq!(
            parse_state_arg("s3:/x").unwrap(),
            StateConfig::Local(Some("s3:/x".into()))
        );
        for (arg, want) in [
            ("gs://b/k", "gs:// scheme is not supported"),
            ("s3://Bad_Bucket/k", "not an S3 bucket name"),
            ("s3://acme-state", "not an object key"),
            ("s3://acme-state/", "not an object key"),
            ("s3://acme-state/x.lock", "ends in .lock"),
        ] {
            let err = parse_state_arg(arg).unwrap_err();
            assert!(err.contains(want), "{arg}: {err}");
        }
    }

    fn problems(table: &str) -> Vec<(String, Option<usize>, String)> {
        let text = format!("domain_name = \"qa.example.com\"\nalert_email = \"qa@example.com\"\ncreate_hosted_zone = true\n{table}");
        match crate::envplan::parse(std::path::Path::new("plans/qa-1.toml"), &text, "qa-1") {
            Ok(p) => panic!("accepted: {:?}", p.state),
            Err(e) => e
                .problems
                .into_iter()
                .map(|p| (p.key, p.line, p.message))
                .collect(),
        }
    }

    #[test]
    fn every_bad_state_value_is_named_with_its_line() {
        let p = problems("[state]\nbackend = \"gcs\"\n");
        assert_eq!(p[0].0, "state.backend");
        assert_eq!(p[0].1, Some(5));
        assert!(p[0].2.contains("use \"s3\" or \"local\""), "{p:?}");
        let p = problems("[state]\nbackend = \"s3\"\nkey = \"/x.lock\"\nregion = \"mars-1\"\nkms_key_id = \"my key\"\n");
        let keys: Vec<&str> = p.iter().map(|p| p.0.as_str()).collect();
        assert_eq!(
            keys,
            [
                "state.bucket",
                "state.key",
                "state.region",
                "state.kms_key_id"
            ],
            "{p:?}"
        );
        assert!(p[0].2.contains("is required"), "{p:?}");
        let p = problems("[state]\nbackend = \"local\"\nbucket = \"acme-state\"\n");
        assert_eq!(p[0].0, "state.bucket");
        assert!(p[0].2.contains("only applies to backend = \"s3\""), "{p:?}");
        let p = problems("[state]\nbackend = \"s3\"\nbucket = \"acme-state\"\nbuckett = 1\n");
        assert!(p[0].2.contains("unknown field `buckett`"), "{p:?}");
    }

    #[test]
    fn a_good_table_and_its_defaults() {
        let text = "domain_name = \"qa.example.com\"\nalert_email = \"qa@example.com\"\ncreate_hosted_zone = true\n[state]\nbackend = \"s3\"\nbucket = \"acme-state\"\nkms_key_id = \"alias/drctl\"\n";
        let p =
            crate::envplan::parse(std::path::Path::new("plans/qa-1.toml"), text, "qa-1").unwrap();
        assert_eq!(
            p.state,
            StateConfig::S3(S3State {
                bucket: "acme-state".into(),
                key: "drctl/qa-1.state.json".into(),
                region: None,
                kms_key_id: Some("alias/drctl".into()),
            })
        );
    }
}
