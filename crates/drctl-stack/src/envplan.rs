//! Environment plans: `plans/<env>.toml`, the template's parameters.
//!
//! Unknown keys are rejected; every rule of STACK.md's parameter table is
//! checked, and every error names the file, the key, the line and what is
//! expected. All errors of a file are reported at once.

use ipnet::Ipv4Net;
use regex::Regex;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

use crate::usage::{self, Usage};

/// The parameters of one environment, validated, defaults filled in.
#[derive(Clone, Debug, PartialEq)]
pub struct EnvPlan {
    /// The env name: the plan file's name, [`ENV_PATTERN`]; every resource's name and tags carry it.
    pub env: String,
    /// Region of the active stack (`primary_region`, default `us-east-1`); matches [`REGION_PATTERN`].
    pub primary_region: String,
    /// Region of the standby stack (`secondary_region`, default `us-west-2`); differs from the primary.
    pub secondary_region: String,
    /// Primary VPC's IPv4 block (default `10.0.0.0/16`): /22 or larger (four /24 subnets
    /// are carved from it), no host bits, not overlapping the secondary's.
    pub primary_vpc_cidr: Ipv4Net,
    /// Secondary VPC's IPv4 block (default `10.1.0.0/16`); same rules as the primary's.
    pub secondary_vpc_cidr: Ipv4Net,
    /// EC2 instance type of the primary region's app instances (default `t3.large`), not empty.
    pub instance_type: String,
    /// EC2 instance type in the secondary region; defaults to `instance_type`.
    pub secondary_instance_type: String,
    /// RDS instance class of the primary DB and its replica (default `db.r6g.large`).
    pub db_instance_class: String,
    /// MySQL engine version (default `8.0.35`).
    pub db_engine_version: String,
    /// DB storage in GiB (default 20; MySQL allows 20–65536).
    pub db_allocated_storage: i32,
    /// When true, a destroy, or an apply that would delete or replace the DB, is refused
    /// at plan time (default false).
    pub db_deletion_protection: bool,
    /// Skip the final DB snapshot on destroy (default false; dev environments).
    pub db_skip_final_snapshot: bool,
    /// Auto Scaling group minimum, instances (default 2; at least 1).
    pub min_size: i32,
    /// Auto Scaling group maximum, instances (default 6; `min_size`..=1000).
    pub max_size: i32,
    /// Auto Scaling group desired capacity, instances (default 2; between min and max).
    pub desired_capacity: i32,
    /// The hosted zone the failover records go in: `hosted_zone_id`, or `create_hosted_zone = true`.
    pub dns: Dns,
    /// The domain the failover records answer for (required), lowercase, no trailing dot.
    pub domain_name: String,
    /// Path the target group and the Route53 health checks probe (default `/health`):
    /// starts with `/`, at most 255 characters, no white space.
    pub health_check_path: String,
    /// Address the SNS alert topic mails (required).
    pub alert_email: String,
    /// Delete the DB secret with no recovery window (test environments).
    pub secret_force_delete: bool,
    /// AMI for the launch template; `None`: the newest Amazon Linux 2023.
    pub image_id: Option<String>,
    /// Extra tags on every resource (`[tags]`): no `aws:`/`drctl:` prefixes, not `Name`,
    /// `Environment` or `Application`, and few enough that AWS's per-resource limit
    /// ([`crate::kinds::TAG_LIMITS`]) holds with drctl's own tags added.
    pub tags: BTreeMap<String, String>,
    /// Recovery objectives `drctl drill` measures against (`rto_target`,
    /// `rpo_target_dynamodb`, `rpo_target_s3`; defaults: the design document's
    /// 5 m, 1 s, 15 m).
    pub drill_targets: drctl_core::drill::Targets,
    /// `[usage]`: monthly quantities for the usage-based cost lines.
    pub usage: Usage,
    /// Where the state lives (`[state]`; `--state` overrides it).
    pub state: crate::statecfg::StateConfig,
    /// SHA-256 of the file's bytes (saved plans record it).
    pub content_hash: String,
}

#[derive(Clone, Debug, PartialEq)]
/// Where the stack's DNS records live.
pub enum Dns {
    /// Use this existing hosted zone.
    ExistingZone(String),
    /// drctl creates (and destroys) the zone for `domain_name`.
    CreateZone,
}

/// The plan table, typed; what the file does not set is `None`.
#[derive(Default)]
struct RawPlan {
    env: Option<Spanned<String>>,
    primary_region: Option<Spanned<String>>,
    secondary_region: Option<Spanned<String>>,
    primary_vpc_cidr: Option<Spanned<String>>,
    secondary_vpc_cidr: Option<Spanned<String>>,
    instance_type: Option<Spanned<String>>,
    secondary_instance_type: Option<Spanned<String>>,
    db_instance_class: Option<Spanned<String>>,
    db_engine_version: Option<Spanned<String>>,
    db_allocated_storage: Option<Spanned<i64>>,
    db_deletion_protection: Option<bool>,
    db_skip_final_snapshot: Option<bool>,
    min_size: Option<Spanned<i64>>,
    max_size: Option<Spanned<i64>>,
    desired_capacity: Option<Spanned<i64>>,
    hosted_zone_id: Option<Spanned<String>>,
    create_hosted_zone: Option<Spanned<bool>>,
    domain_name: Option<Spanned<String>>,
    health_check_path: Option<Spanned<String>>,
    alert_email: Option<Spanned<String>>,
    secret_force_delete: Option<bool>,
    image_id: Option<Spanned<String>>,
    tags: Option<Spanned<BTreeMap<String, String>>>,
    rto_target: Option<Spanned<String>>,
    rpo_target_dynamodb: Option<Spanned<String>>,
    rpo_target_s3: Option<Spanned<String>>,
    usage: Option<toml::Table>,
    state: Option<Spanned<crate::statecfg::RawState>>,
}

/// Every key of the plan table (the top level of the file).
pub const KEYS: &[&str] = &[
    "env",
    "primary_region",
    "secondary_region",
    "primary_vpc_cidr",
    "secondary_vpc_cidr",
    "instance_type",
    "secondary_instance_type",
    "db_instance_class",
    "db_engine_version",
    "db_allocated_storage",
    "db_deletion_protection",
    "db_skip_final_snapshot",
    "min_size",
    "max_size",
    "desired_capacity",
    "hosted_zone_id",
    "create_hosted_zone",
    "domain_name",
    "health_check_path",
    "alert_email",
    "secret_force_delete",
    "image_id",
    "tags",
    "rto_target",
    "rpo_target_dynamodb",
    "rpo_target_s3",
    "usage",
    "state",
];

type Doc = BTreeMap<Spanned<String>, Spanned<toml::Value>>;

/// Where each `[tags]` entry is (a `toml::Value` keeps no positions).
#[derive(Default, serde::Deserialize)]
struct TagSpans {
    #[serde(default)]
    tags: BTreeMap<Spanned<String>, serde::de::IgnoredAny>,
}

impl TagSpans {
    fn read(text: &str) -> TagSpans {
        toml::from_str(text).unwrap_or_default()
    }
    fn of(&self, key: &str) -> Option<std::ops::Range<usize>> {
        self.tags
            .keys()
            .find(|k| k.get_ref() == key)
            .map(|k| k.span())
    }
}

/// How a TOML value reads in a message: its type and, for scalars, itself.
fn describe(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => format!("the string \"{s}\""),
        toml::Value::Integer(i) => format!("the integer {i}"),
        toml::Value::Float(f) => format!("the number {f}"),
        toml::Value::Boolean(b) => format!("{b}"),
        toml::Value::Datetime(d) => format!("the date {d}"),
        toml::Value::Array(_) => "an array".into(),
        toml::Value::Table(_) => "a table".into(),
    }
}

/// The known key closest to `key`, when it is a likely typo.
fn did_you_mean(key: &str) -> Option<&'static str> {
    let dist = |a: &str, b: &str| {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let cur = row[j + 1];
                row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
                prev = cur;
            }
        }
        row[b.len()]
    };
    KEYS.iter()
        .map(|k| (dist(key, k), *k))
        .filter(|(d, k)| *d <= 3.max(k.len() / 4) && *d < k.len())
        .min()
        .map(|(_, k)| k)
}

/// Types every key of the parsed file; unknown keys and values of the wrong
/// type are reported (all of them), naming the key, its table and line.
fn typed(doc: Doc, tag_spans: &TagSpans, bad: &mut Report) -> RawPlan {
    let mut raw = RawPlan::default();
    const STR: &str = "a string (in double quotes)";
    const INT: &str = "a whole number";
    const BOOL: &str = "true or false";
    for (k, v) in &doc {
        let key = k.get_ref().as_str();
        let s = |bad: &mut Report| get::<String>(key, v, STR, bad);
        let i = |bad: &mut Report| get::<i64>(key, v, INT, bad);
        let b = |bad: &mut Report| get::<bool>(key, v, BOOL, bad);
        match key {
            "env" => raw.env = s(bad),
            "primary_region" => raw.primary_region = s(bad),
            "secondary_region" => raw.secondary_region = s(bad),
            "primary_vpc_cidr" => raw.primary_vpc_cidr = s(bad),
            "secondary_vpc_cidr" => raw.secondary_vpc_cidr = s(bad),
            "instance_type" => raw.instance_type = s(bad),
            "secondary_instance_type" => raw.secondary_instance_type = s(bad),
            "db_instance_class" => raw.db_instance_class = s(bad),
            "db_engine_version" => raw.db_engine_version = s(bad),
            "db_allocated_storage" => raw.db_allocated_storage = i(bad),
            "db_deletion_protection" => {
                raw.db_deletion_protection = b(bad).map(Spanned::into_inner)
            }
            "db_skip_final_snapshot" => {
                raw.db_skip_final_snapshot = b(bad).map(Spanned::into_inner)
            }
            "min_size" => raw.min_size = i(bad),
            "max_size" => raw.max_size = i(bad),
            "desired_capacity" => raw.desired_capacity = i(bad),
            "hosted_zone_id" => raw.hosted_zone_id = s(bad),
            "create_hosted_zone" => raw.create_hosted_zone = b(bad),
            "domain_name" => raw.domain_name = s(bad),
            "health_check_path" => raw.health_check_path = s(bad),
            "alert_email" => raw.alert_email = s(bad),
            "secret_force_delete" => raw.secret_force_delete = b(bad).map(Spanned::into_inner),
            "image_id" => raw.image_id = s(bad),
            "tags" => raw.tags = tags(v, tag_spans, bad),
            "rto_target" => raw.rto_target = s(bad),
            "rpo_target_dynamodb" => raw.rpo_target_dynamodb = s(bad),
            "rpo_target_s3" => raw.rpo_target_s3 = s(bad),
            // Typed in `parse` from the text: its values keep their spans.
            "state" => {}
            "usage" => {
                raw.usage =
                    get::<toml::Table>(key, v, "a table ([usage])", bad).map(Spanned::into_inner)
            }
            _ => unknown_key(k, v, bad),
        }
    }
    raw
}

/// `v` as a `T`, spanned; `None` after reporting `key` as not `expected`
/// (what it is instead).
fn get<T: serde::de::DeserializeOwned>(
    key: &str,
    v: &Spanned<toml::Value>,
    expected: &str,
    bad: &mut Report,
) -> Option<Spanned<T>> {
    match v.get_ref().clone().try_into::<T>() {
        Ok(t) => Some(Spanned::new(v.span(), t)),
        Err(_) => {
            bad(
                key,
                Some(v.span()),
                format!("must be {expected}, not {}", describe(v.get_ref())),
            );
            None
        }
    }
}

/// Reports a key (or table) the plan file does not have, at the key, with
/// the nearest known key when one is close.
fn unknown_key(k: &Spanned<String>, v: &Spanned<toml::Value>, bad: &mut Report) {
    let key = k.get_ref().as_str();
    let hint = match did_you_mean(key) {
        Some(k) => format!(" (did you mean {k}?)"),
        None => String::new(),
    };
    let what = if v.get_ref().is_table() {
        format!("unknown table [{key}]{hint}")
    } else {
        format!("unknown key in the top-level table{hint}")
    };
    bad(
        key,
        Some(k.span()),
        format!("{what}; the keys are listed under \"The plan file\" in README.md"),
    );
}

/// `[tags]`: a table of string values. A key of the plan table found here
/// was written below the `[tags]` header by mistake: say so.
fn tags(
    v: &Spanned<toml::Value>,
    spans: &TagSpans,
    bad: &mut Report,
) -> Option<Spanned<BTreeMap<String, String>>> {
    let Some(table) = v.get_ref().as_table() else {
        bad(
            "tags",
            Some(v.span()),
            format!(
                "must be a table of tag names to string values, like [tags] CostCenter = \"ops\"; not {}",
                describe(v.get_ref())
            ),
        );
        return None;
    };
    let mut out = BTreeMap::new();
    let mut ok = true;
    for (k, val) in table {
        match val.as_str() {
            Some(s) => {
                out.insert(k.clone(), s.to_string());
            }
            None => {
                ok = false;
                let moved = if KEYS.contains(&k.as_str()) {
                    format!(" {k} is a key of the top-level table: move it above the [tags] header (every key below [tags] belongs to it).")
                } else {
                    String::new()
                };
                bad(
                    &format!("tags.{k}"),
                    Some(spans.of(k).unwrap_or(v.span())),
                    format!(
                        "in table [tags]: a tag value must be a string (in double quotes), not {}.{moved}",
                        describe(val)
                    ),
                );
            }
        }
    }
    ok.then(|| Spanned::new(v.span(), out))
}

/// Records one problem: key, where in the file, what is wrong.
type Report<'a> = dyn FnMut(&str, Option<std::ops::Range<usize>>, String) + 'a;

/// One problem in a plan file.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    /// The key, as the user would write it (`tags.CostCenter`, `state.bucket`), or
    /// `(file)` / `(TOML syntax)` when no key is to blame.
    pub key: String,
    /// 1-based line in the file; `None` for a key that is missing.
    pub line: Option<usize>,
    /// What is wrong and what to write instead (one sentence, no trailing newline).
    pub message: String,
}

/// Everything wrong with one plan file.
#[derive(Debug, PartialEq)]
pub struct PlanFileError {
    /// The plan file, as given (for messages).
    pub file: PathBuf,
    /// Every problem found, in file order (missing keys last); never empty.
    pub problems: Vec<Problem>,
}

impl fmt::Display for PlanFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        writeln!(
            f,
            "{} has {n} problem{}:",
            self.file.display(),
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            match p.line {
                Some(l) => writeln!(f, "  {}:{l}: {}: {}", self.file.display(), p.key, p.message)?,
                None => writeln!(f, "  {}: {}: {}", self.file.display(), p.key, p.message)?,
            }
        }
        Ok(())
    }
}

impl std::error::Error for PlanFileError {}

impl PlanFileError {
    /// In file order; problems with no line (a missing key) last.
    fn sorted(file: &Path, mut problems: Vec<Problem>) -> Self {
        problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
        PlanFileError {
            file: file.into(),
            problems,
        }
    }
}

/// The env name's rule: 3–20 lowercase letters, digits and hyphens, not starting or
/// ending with a hyphen (it ends up in bucket and IAM names).
pub const ENV_PATTERN: &str = "^[a-z0-9][a-z0-9-]{1,18}[a-z0-9]$";
/// What Route53 accepts as a zone id: up to 32 letters and digits (AWS's
/// start with Z, LocalStack's do not), optionally as `/hostedzone/ID`.
const ZONE_PATTERN: &str = "^(/hostedzone/)?[A-Za-z0-9]{1,32}$";
const DOMAIN_PATTERN: &str = r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\.?$";
const EMAIL_PATTERN: &str = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$";
/// An AWS region name (`us-east-1`, `us-gov-west-1`); the partitions drctl supports.
pub const REGION_PATTERN: &str = r"^(us|eu|ap|sa|ca|me|af|il|mx)(-gov)?-(north|south|east|west|central|northeast|northwest|southeast|southwest)-[1-9]$";

/// Where `plans/<env>.toml` lives.
pub fn plan_path(dir: &Path, env: &str) -> PathBuf {
    dir.join(format!("{env}.toml"))
}

/// Reads and validates `plans/<env>.toml` under `dir`.
pub fn load(dir: &Path, env: &str) -> Result<EnvPlan, PlanFileError> {
    let file = plan_path(dir, env);
    let text = std::fs::read_to_string(&file).map_err(|e| PlanFileError {
        file: file.clone(),
        problems: vec![Problem {
            key: "(file)".into(),
            line: None,
            message: format!(
                "cannot read it: {e} (the env name picks plans/<env>.toml; see --plans-dir)"
            ),
        }],
    })?;
    parse(&file, &text, env)
}

/// The value each plan key takes when the file leaves it out, as README's
/// table "The plan file" spells it (a test checks the README against this
/// table). Keys without an entry are required, or default to another key
/// (`secondary_instance_type`), or to nothing (`image_id`, `[tags]`); the
/// drill targets' defaults live in [`drctl_core::drill::Targets::default`].
pub const DEFAULTS: &[(&str, &str)] = &[
    ("primary_region", "us-east-1"),
    ("secondary_region", "us-west-2"),
    ("primary_vpc_cidr", "10.0.0.0/16"),
    ("secondary_vpc_cidr", "10.1.0.0/16"),
    ("instance_type", "t3.large"),
    ("db_instance_class", "db.r6g.large"),
    ("db_engine_version", "8.0.35"),
    ("db_allocated_storage", "20"),
    ("min_size", "2"),
    ("max_size", "6"),
    ("desired_capacity", "2"),
    ("health_check_path", "/health"),
    ("db_deletion_protection", "false"),
    ("db_skip_final_snapshot", "false"),
    ("secret_force_delete", "false"),
];

/// The default of `key` from [`DEFAULTS`].
fn default_of(key: &str) -> &'static str {
    DEFAULTS
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| *v)
        .expect("a key of DEFAULTS")
}

/// The default of a whole-number key from [`DEFAULTS`].
fn default_int(key: &str) -> i64 {
    default_of(key).parse().expect("a whole number in DEFAULTS")
}

/// The default of a true/false key from [`DEFAULTS`].
fn default_bool(key: &str) -> bool {
    default_of(key) == "true"
}

/// Validates the text of a plan file whose name gives `env`: TOML syntax,
/// then unknown keys and types, then one validator per group of keys (in
/// file order of the README's table). Every problem is reported at once.
pub fn parse(file: &Path, text: &str, env: &str) -> Result<EnvPlan, PlanFileError> {
    let doc = toml_doc(file, text)?;
    let mut problems = Vec::new();
    // Unknown keys and wrong types first: the rules below need the values.
    let tag_spans = TagSpans::read(text);
    let raw = raw_plan(text, doc, &tag_spans, &mut reporter(text, &mut problems));
    if !problems.is_empty() {
        return Err(PlanFileError::sorted(file, problems));
    }
    let mut report = reporter(text, &mut problems);
    let bad: &mut Report = &mut report;
    check_env(env, &raw, bad);
    let (primary_region, secondary_region) = regions(&raw, bad);
    let (primary_vpc_cidr, secondary_vpc_cidr) = vpc_cidrs(&raw, bad);
    let types = machine_types(&raw, bad);
    let size = sizes(&raw, bad);
    let (domain_name, dns) = dns(&raw, bad);
    let (health_check_path, alert_email, image_id) = endpoints(&raw, bad);
    let tags = tag_rules(&raw, &tag_spans, bad);
    let drill_targets = drill_targets(&raw, bad);
    let usage = parse_usage(
        raw.usage.as_ref(),
        text,
        [primary_region.as_str(), secondary_region.as_str()],
        bad,
    );
    let state = crate::statecfg::check(&raw.state, env, REGION_PATTERN, bad);
    drop(report);

    if !problems.is_empty() {
        return Err(PlanFileError::sorted(file, problems));
    }
    use sha2::{Digest, Sha256};
    let content_hash = hex::encode(Sha256::digest(text.as_bytes()));
    Ok(EnvPlan {
        env: env.to_string(),
        primary_region,
        secondary_region,
        primary_vpc_cidr: primary_vpc_cidr.expect("validated"),
        secondary_vpc_cidr: secondary_vpc_cidr.expect("validated"),
        instance_type: types.instance_type,
        secondary_instance_type: types.secondary_instance_type,
        db_instance_class: types.db_instance_class,
        db_engine_version: types.db_engine_version,
        db_allocated_storage: size.storage as i32,
        db_deletion_protection: raw
            .db_deletion_protection
            .unwrap_or_else(|| default_bool("db_deletion_protection")),
        db_skip_final_snapshot: raw
            .db_skip_final_snapshot
            .unwrap_or_else(|| default_bool("db_skip_final_snapshot")),
        min_size: size.min as i32,
        max_size: size.max as i32,
        desired_capacity: size.desired as i32,
        dns,
        domain_name: domain_name.trim_end_matches('.').to_string(),
        health_check_path,
        alert_email,
        secret_force_delete: raw
            .secret_force_delete
            .unwrap_or_else(|| default_bool("secret_force_delete")),
        image_id,
        tags,
        drill_targets,
        usage,
        state,
        content_hash,
    })
}

/// 1-based line of byte `offset` in `text`.
fn line_at(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// A [`Report`] that records each problem into `problems`, with its line.
fn reporter<'a>(
    text: &'a str,
    problems: &'a mut Vec<Problem>,
) -> impl FnMut(&str, Option<std::ops::Range<usize>>, String) + 'a {
    move |key: &str, span: Option<std::ops::Range<usize>>, message: String| {
        problems.push(Problem {
            key: key.into(),
            line: span.map(|s| line_at(text, s.start)),
            message,
        })
    }
}

/// The file as a TOML table, each key with its position.
///
/// # Errors
/// A syntax error, as one problem naming the key on that line.
fn toml_doc(file: &Path, text: &str) -> Result<Doc, PlanFileError> {
    let table: toml::Table = toml::from_str(text).map_err(|e| PlanFileError {
        file: file.into(),
        problems: vec![Problem {
            key: e
                .span()
                .and_then(|s| key_on_line(text, s.start))
                .unwrap_or_else(|| "(TOML syntax)".into()),
            line: e.span().map(|s| line_at(text, s.start)),
            message: format!(
                "{}; this file is not valid TOML (https://toml.io)",
                e.message().trim().trim_end_matches('.').replace('\n', "; ")
            ),
        }],
    })?;
    // Where each key is (a `toml::Value` keeps no positions; spanned
    // values fail on some nested tables, spanned keys never do).
    let key_spans: BTreeMap<Spanned<String>, serde::de::IgnoredAny> =
        toml::from_str(text).unwrap_or_default();
    Ok(table
        .into_iter()
        .map(|(k, v)| {
            let span = key_spans
                .keys()
                .find(|s| s.get_ref() == &k)
                .map_or(0..0, |s| s.span());
            (Spanned::new(span.clone(), k), Spanned::new(span, v))
        })
        .collect())
}

/// Every key typed ([`typed`]) and `[state]` read with its spans.
fn raw_plan(text: &str, doc: Doc, tag_spans: &TagSpans, bad: &mut Report) -> RawPlan {
    let mut raw = typed(doc, tag_spans, bad);
    #[derive(serde::Deserialize)]
    struct StateOnly {
        state: Option<Spanned<crate::statecfg::RawState>>,
    }
    match toml::from_str::<StateOnly>(text) {
        Ok(s) => raw.state = s.state,
        Err(e) => bad(
            "state",
            e.span(),
            format!(
                "[state]: {}; its keys are backend, bucket, key, region, kms_key_id",
                e.message().trim()
            ),
        ),
    }
    raw
}

fn re(p: &str) -> Regex {
    Regex::new(p).expect("built-in pattern")
}

/// A string key's value, trimmed, or `default`.
fn string(v: &Option<Spanned<String>>, default: &str) -> String {
    v.as_ref()
        .map(|s| s.get_ref().trim().to_string())
        .unwrap_or_else(|| default.to_string())
}

/// Where a key's value is, when the file sets it.
fn span<T>(v: &Option<Spanned<T>>) -> Option<std::ops::Range<usize>> {
    v.as_ref().map(|s| s.span())
}

/// `env`: the file name, or the same value spelt out.
fn check_env(env: &str, raw: &RawPlan, bad: &mut Report) {
    if !re(ENV_PATTERN).is_match(env) {
        bad("env", None, format!("the env name '{env}' (from the file name) must match {ENV_PATTERN}: 3–20 lowercase letters, digits and hyphens, not starting or ending with a hyphen"));
    }
    if let Some(e) = &raw.env {
        if e.get_ref() != env {
            bad(
                "env",
                Some(e.span()),
                format!(
                    "is '{}' but the file is named for '{env}'; they must agree",
                    e.get_ref()
                ),
            );
        }
    }
}

/// `primary_region`, `secondary_region`: region names, different.
fn regions(raw: &RawPlan, bad: &mut Report) -> (String, String) {
    let primary_region = string(&raw.primary_region, default_of("primary_region"));
    let secondary_region = string(&raw.secondary_region, default_of("secondary_region"));
    for (key, v, raw_v) in [
        ("primary_region", &primary_region, &raw.primary_region),
        ("secondary_region", &secondary_region, &raw.secondary_region),
    ] {
        if !re(REGION_PATTERN).is_match(v) {
            bad(
                key,
                span(raw_v),
                format!("'{v}' is not an AWS region name (like us-east-1)"),
            );
        }
    }
    if primary_region == secondary_region {
        bad(
            "secondary_region",
            span(&raw.secondary_region),
            format!("must differ from primary_region (both are {primary_region})"),
        );
    }
    (primary_region, secondary_region)
}

/// `primary_vpc_cidr`, `secondary_vpc_cidr`: IPv4, /22 or larger, no host
/// bits, not overlapping; `None` for one that is wrong (reported).
fn vpc_cidrs(raw: &RawPlan, bad: &mut Report) -> (Option<Ipv4Net>, Option<Ipv4Net>) {
    let cidr = |key: &str, v: &Option<Spanned<String>>, bad: &mut Report| {
        let s = string(v, default_of(key));
        match s.parse::<Ipv4Net>() {
            Ok(net) if net.prefix_len() > 22 => {
                bad(key, span(v), format!("{s} is too small: four /24 subnets are carved from it, so use a prefix of /22 or shorter (like /16)"));
                None
            }
            Ok(net) if net.network() != net.addr() => {
                bad(
                    key,
                    span(v),
                    format!("{s} has host bits set; did you mean {}?", net.trunc()),
                );
                None
            }
            Ok(net) => Some(net),
            Err(_) => {
                bad(
                    key,
                    span(v),
                    format!("'{s}' is not an IPv4 CIDR block like 10.0.0.0/16"),
                );
                None
            }
        }
    };
    let primary = cidr("primary_vpc_cidr", &raw.primary_vpc_cidr, bad);
    let secondary = cidr("secondary_vpc_cidr", &raw.secondary_vpc_cidr, bad);
    if let (Some(a), Some(b)) = (primary, secondary) {
        if a.contains(&b.network()) || b.contains(&a.network()) {
            bad(
                "secondary_vpc_cidr",
                span(&raw.secondary_vpc_cidr),
                format!("{b} overlaps primary_vpc_cidr {a}; the regions need distinct ranges"),
            );
        }
    }
    (primary, secondary)
}

/// The instance and DB types the plan names (none may be empty).
struct MachineTypes {
    instance_type: String,
    secondary_instance_type: String,
    db_instance_class: String,
    db_engine_version: String,
}

/// `instance_type`, `secondary_instance_type`, `db_instance_class`,
/// `db_engine_version`: not empty.
fn machine_types(raw: &RawPlan, bad: &mut Report) -> MachineTypes {
    let non_empty = |key: &str, v: &Option<Spanned<String>>, default: &str, bad: &mut Report| {
        let s = string(v, default);
        if s.is_empty() {
            bad(key, span(v), "must not be empty".into());
        }
        s
    };
    let instance_type = non_empty(
        "instance_type",
        &raw.instance_type,
        default_of("instance_type"),
        bad,
    );
    let secondary_instance_type = match &raw.secondary_instance_type {
        Some(_) => non_empty(
            "secondary_instance_type",
            &raw.secondary_instance_type,
            "",
            bad,
        ),
        None => instance_type.clone(),
    };
    let db_instance_class = non_empty(
        "db_instance_class",
        &raw.db_instance_class,
        default_of("db_instance_class"),
        bad,
    );
    let db_engine_version = non_empty(
        "db_engine_version",
        &raw.db_engine_version,
        default_of("db_engine_version"),
        bad,
    );
    MachineTypes {
        instance_type,
        secondary_instance_type,
        db_instance_class,
        db_engine_version,
    }
}

/// The group's instance counts and the DB's storage, GiB.
struct Sizes {
    min: i64,
    max: i64,
    desired: i64,
    storage: i64,
}

/// `min_size`, `max_size`, `desired_capacity` (min ≥ 1, min ≤ desired ≤
/// max ≤ 1000) and `db_allocated_storage` (20–65536 GiB).
fn sizes(raw: &RawPlan, bad: &mut Report) -> Sizes {
    let int = |key: &str, v: &Option<Spanned<i64>>| {
        v.as_ref()
            .map(|s| *s.get_ref())
            .unwrap_or_else(|| default_int(key))
    };
    let (min, max, desired) = (
        int("min_size", &raw.min_size),
        int("max_size", &raw.max_size),
        int("desired_capacity", &raw.desired_capacity),
    );
    if min < 1 {
        bad(
            "min_size",
            span(&raw.min_size),
            format!("must be at least 1 (got {min})"),
        );
    }
    if max < min {
        bad(
            "max_size",
            span(&raw.max_size),
            format!("must be at least min_size {min} (got {max})"),
        );
    }
    if desired < min || desired > max {
        bad(
            "desired_capacity",
            span(&raw.desired_capacity),
            format!("must be between min_size {min} and max_size {max} (got {desired})"),
        );
    }
    if max > 1000 {
        bad(
            "max_size",
            span(&raw.max_size),
            format!("must be at most 1000 (got {max})"),
        );
    }
    let storage = int("db_allocated_storage", &raw.db_allocated_storage);
    if !(20..=65536).contains(&storage) {
        bad(
            "db_allocated_storage",
            span(&raw.db_allocated_storage),
            format!("must be 20–65536 GiB for MySQL (got {storage})"),
        );
    }
    Sizes {
        min,
        max,
        desired,
        storage,
    }
}

/// `domain_name` (required) and `hosted_zone_id` or `create_hosted_zone =
/// true` (exactly one).
fn dns(raw: &RawPlan, bad: &mut Report) -> (String, Dns) {
    let domain_name = string(&raw.domain_name, "");
    if domain_name.is_empty() {
        bad(
            "domain_name",
            None,
            "is required: the domain the failover records answer for, like trading.example.com"
                .into(),
        );
    } else if !re(DOMAIN_PATTERN).is_match(&domain_name) || domain_name.len() > 253 {
        bad("domain_name", span(&raw.domain_name), format!("'{domain_name}' is not a valid domain name (lowercase labels separated by dots, like trading.example.com)"));
    }
    let create_zone = raw
        .create_hosted_zone
        .as_ref()
        .map(|b| *b.get_ref())
        .unwrap_or(false);
    let dns = match (&raw.hosted_zone_id, create_zone) {
        (Some(z), true) => {
            bad(
                "create_hosted_zone",
                raw.create_hosted_zone.as_ref().map(|s| s.span()),
                format!(
                    "cannot be true together with hosted_zone_id = \"{}\"; choose one",
                    z.get_ref()
                ),
            );
            Dns::CreateZone
        }
        (Some(z), false) => {
            if !re(ZONE_PATTERN).is_match(z.get_ref()) {
                bad("hosted_zone_id", Some(z.span()), format!("'{}' is not a Route53 zone id: up to 32 letters and digits, optionally with the /hostedzone/ prefix, like Z1234567890ABC", z.get_ref()));
            }
            // The API's own spelling of an id carries the prefix; the records want it bare.
            Dns::ExistingZone(z.get_ref().trim_start_matches("/hostedzone/").to_string())
        }
        (None, true) => Dns::CreateZone,
        (None, false) => {
            bad(
                "hosted_zone_id",
                None,
                "is required unless create_hosted_zone = true".into(),
            );
            Dns::CreateZone
        }
    };

    (domain_name, dns)
}

/// `health_check_path` (starts with `/`), `alert_email` (required, an
/// address) and `image_id` (an AMI id, optional).
fn endpoints(raw: &RawPlan, bad: &mut Report) -> (String, String, Option<String>) {
    let health_check_path = string(&raw.health_check_path, default_of("health_check_path"));
    if !health_check_path.starts_with('/') {
        bad(
            "health_check_path",
            span(&raw.health_check_path),
            format!("must start with '/' (got '{health_check_path}')"),
        );
    } else if health_check_path.len() > 255 || health_check_path.contains(char::is_whitespace) {
        bad(
            "health_check_path",
            span(&raw.health_check_path),
            "must be at most 255 characters with no spaces".into(),
        );
    }
    let alert_email = string(&raw.alert_email, "");
    if alert_email.is_empty() {
        bad(
            "alert_email",
            None,
            "is required: the address the SNS alert topic mails".into(),
        );
    } else if !re(EMAIL_PATTERN).is_match(&alert_email) {
        bad(
            "alert_email",
            span(&raw.alert_email),
            format!("'{alert_email}' is not an email address"),
        );
    }
    let image_id = raw.image_id.as_ref().map(|s| s.get_ref().clone());
    if let Some(id) = &image_id {
        if !re("^ami-[0-9a-f]{8,17}$").is_match(id) {
            bad(
                "image_id",
                span(&raw.image_id),
                format!("'{id}' is not an AMI id like ami-0123456789abcdef0"),
            );
        }
    }
    (health_check_path, alert_email, image_id)
}

/// `[tags]`: no reserved keys, AWS's lengths, and few enough for the
/// tightest per-resource limit over the kinds this plan makes.
fn tag_rules(raw: &RawPlan, tag_spans: &TagSpans, bad: &mut Report) -> BTreeMap<String, String> {
    let tags = raw
        .tags
        .as_ref()
        .map(|t| t.get_ref().clone())
        .unwrap_or_default();
    let tspan = raw.tags.as_ref().map(|t| t.span());
    let tspan_of = |k: &str| tag_spans.of(k).or(tspan.clone());
    for (k, v) in &tags {
        if k.starts_with("aws:") || k.starts_with("drctl:") {
            bad(
                &format!("tags.{k}"),
                tspan_of(k),
                "tag keys starting with 'aws:' or 'drctl:' are reserved".into(),
            );
        }
        if ["Name", "Environment", "Application"].contains(&k.as_str()) {
            bad(
                &format!("tags.{k}"),
                tspan_of(k),
                "is set by drctl on every resource and cannot be overridden".into(),
            );
        }
        if k.is_empty() || k.len() > 127 || v.len() > 255 {
            bad(
                &format!("tags.{k}"),
                tspan_of(k),
                "tag keys are 1–127 characters and values at most 255".into(),
            );
        }
    }

    // AWS's tag limits, the tightest over the kinds this plan makes (a
    // hosted zone only when drctl creates it).
    let kinds = crate::kinds::ALL
        .iter()
        .copied()
        .filter(|k| *k != crate::kinds::HOSTED_ZONE || raw.hosted_zone_id.is_none());
    if let Some((kind, limit, allowed)) = crate::kinds::tightest_tag_limit(kinds) {
        if tags.len() > allowed {
            bad(
                "tags",
                tspan.clone(),
                format!(
                    "has {} keys, but AWS allows at most {} tags on {} ({kind}; source: {}), and drctl puts {} of its own on it ({}): [tags] can have at most {allowed} keys. Remove {} of them.",
                    tags.len(),
                    limit.max,
                    limit.what,
                    limit.source,
                    crate::kinds::own_tag_count(kind),
                    crate::kinds::OWN_TAGS.join(", "),
                    tags.len() - allowed
                ),
            );
        }
    }

    tags
}

/// `rto_target`, `rpo_target_dynamodb`, `rpo_target_s3`: durations like
/// `5m` ([`parse_target`]); the design document's targets by default.
fn drill_targets(raw: &RawPlan, bad: &mut Report) -> drctl_core::drill::Targets {
    let defaults = drctl_core::drill::Targets::default();
    let mut target = |key: &str, v: &Option<Spanned<String>>, default: Duration| match v {
        None => default,
        Some(t) => match parse_target(t.get_ref()) {
            Ok(d) => d,
            Err(why) => {
                bad(key, Some(t.span()), why);
                default
            }
        },
    };
    drctl_core::drill::Targets {
        rto: target("rto_target", &raw.rto_target, defaults.rto),
        rpo_dynamodb: target(
            "rpo_target_dynamodb",
            &raw.rpo_target_dynamodb,
            defaults.rpo_dynamodb,
        ),
        rpo_s3: target("rpo_target_s3", &raw.rpo_target_s3, defaults.rpo_s3),
    }
}

/// A recovery objective: a whole number with a unit, `500ms`, `30s`, `5m`, `1h`.
fn parse_target(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| {
        format!("'{s}' is not a duration; write a whole number and a unit, like \"500ms\", \"30s\", \"5m\" or \"1h\"")
    })?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        "" => {
            return Err(format!(
                "'{s}' has no unit; write \"{n}s\", \"{n}m\" or \"{n}ms\""
            ))
        }
        u => {
            return Err(format!(
                "'{s}' has an unknown unit '{u}'; use ms, s, m or h"
            ))
        }
    };
    if d.is_zero() {
        return Err(format!(
            "'{s}' is zero; a recovery objective must be positive"
        ));
    }
    Ok(d)
}

/// The `key` of the `key = value` line holding `offset` (a wrong-type
/// value's error names no key, only the place).
fn key_on_line(text: &str, offset: usize) -> Option<String> {
    let start = text[..offset.min(text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let line = text[start..].lines().next()?;
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    (!key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
    .then(|| key.to_string())
}

/// Where `key` is set: the first `key =` line after the `[table]` header
/// (toml's spans do not reach inside `[usage.<region>]` tables).
fn locate(text: &str, table: &str, key: Option<&str>) -> Option<std::ops::Range<usize>> {
    let mut offset = 0;
    let mut inside = false;
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        if t.starts_with('[') {
            let name: String = t
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or("")
                .chars()
                .filter(|c| !c.is_whitespace() && *c != '"' && *c != '\'')
                .collect();
            inside = name == table;
            if inside && key.is_none() {
                return Some(offset..offset + line.len());
            }
        } else if inside {
            if let Some(k) = key {
                let lhs = t.split('=').next().unwrap_or("").trim().trim_matches('"');
                if t.contains('=') && lhs == k {
                    return Some(offset..offset + line.len());
                }
            }
        }
        offset += line.len();
    }
    None
}

/// Validates `[usage]` and its `[usage.<region>]` tables (see [`crate::usage`]).
fn parse_usage(
    raw: Option<&toml::Table>,
    text: &str,
    regions: [&str; 2],
    bad: &mut Report,
) -> Usage {
    let mut out = Usage::default();
    let Some(raw) = raw else { return out };
    for (name, value) in raw {
        if let toml::Value::Table(table) = value {
            let header = format!("usage.{name}");
            if !regions.contains(&name.as_str()) {
                bad(
                    &header,
                    locate(text, &header, None),
                    format!(
                        "is not a region of this env: per-region usage tables are [usage.{}] and [usage.{}]",
                        regions[0], regions[1]
                    ),
                );
                continue;
            }
            let mut values = BTreeMap::new();
            for (k, v) in table {
                let key = format!("{header}.{k}");
                let span = locate(text, &header, Some(k));
                match usage::key(k) {
                    None => bad(&key, span, format!("unknown usage key; per-region keys are: {}", usage::key_list(true))),
                    Some(u) if !u.per_region => bad(&key, span, format!("{k} describes the data as a whole (both regions hold the same): set it in [usage], not per region")),
                    Some(_) => match usage::number(v) {
                        Ok(n) => {
                            values.insert(k.clone(), n);
                        }
                        Err(m) => bad(&key, span, m),
                    },
                }
            }
            out.regions.insert(name.clone(), values);
            continue;
        }
        let key = format!("usage.{name}");
        let span = locate(text, "usage", Some(name));
        match usage::key(name) {
            None => bad(
                &key,
                span,
                format!(
                    "unknown usage key; the keys are: {} (or a [usage.<region>] table)",
                    usage::key_list(false)
                ),
            ),
            Some(_) => match usage::number(value) {
                Ok(n) => {
                    out.all.insert(name.clone(), n);
                }
                Err(m) => bad(&key, span, m),
            },
        }
    }
    out
}
