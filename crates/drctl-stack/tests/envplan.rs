//! Every rule of the environment plan table: a bad value gets a message
//! naming the file, the key and the line.

use drctl_stack::envplan::{self, Dns};
use std::path::Path;

const GOOD: &str = r#"
hosted_zone_id = "Z1234567890ABC"
domain_name = "trading.example.com"
alert_email = "ops@example.com"
"#;

fn errors(text: &str, env: &str) -> String {
    let err = envplan::parse(Path::new("plans/x.toml"), text, env).unwrap_err();
    err.to_string()
}

/// The one problem `extra` causes, appended to a valid file.
fn problem(extra: &str) -> String {
    let text = format!("{GOOD}{extra}\n");
    let err = envplan::parse(Path::new("plans/x.toml"), &text, "dev").unwrap_err();
    assert_eq!(err.problems.len(), 1, "{err}");
    err.to_string()
}

/// Same, but replacing a key of the valid file.
fn problem_without(key: &str, extra: &str) -> String {
    let base: String = GOOD
        .lines()
        .filter(|l| !l.starts_with(key))
        .map(|l| format!("{l}\n"))
        .collect();
    let text = format!("{base}{extra}\n");
    let err = envplan::parse(Path::new("plans/x.toml"), &text, "dev").unwrap_err();
    err.to_string()
}

#[test]
fn defaults_follow_the_document() {
    let p = envplan::parse(Path::new("plans/dev.toml"), GOOD, "dev").unwrap();
    assert_eq!(p.primary_region, "us-east-1");
    assert_eq!(p.secondary_region, "us-west-2");
    assert_eq!(p.primary_vpc_cidr.to_string(), "10.0.0.0/16");
    assert_eq!(p.secondary_vpc_cidr.to_string(), "10.1.0.0/16");
    assert_eq!(p.instance_type, "t3.large");
    assert_eq!(p.secondary_instance_type, "t3.large");
    assert_eq!(p.db_instance_class, "db.r6g.large");
    assert_eq!((p.min_size, p.max_size, p.desired_capacity), (2, 6, 2));
    assert_eq!(p.health_check_path, "/health");
    assert_eq!(p.dns, Dns::ExistingZone("Z1234567890ABC".into()));
    assert!(!p.db_deletion_protection);
}

#[test]
fn shipped_plans_are_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plans");
    let prod = envplan::load(&dir, "prod-dr").unwrap();
    assert!(prod.db_deletion_protection);
    assert_eq!(prod.alert_email, "ops-team@example.com");
    let dev = envplan::load(&dir, "dev").unwrap();
    assert_eq!(dev.dns, Dns::CreateZone);
}

#[test]
fn env_name_rule() {
    for bad in ["ab", "-abc", "abc-", "ABC", "a_bc", "abcdefghijklmnopqrstu"] {
        let e = errors(GOOD, bad);
        assert!(e.contains("env:") && e.contains("must match"), "{bad}: {e}");
    }
    for good in ["dev", "prod-dr", "a1b", "abcdefghijklmnopqrst"] {
        envplan::parse(Path::new("x"), GOOD, good).unwrap();
    }
    let e = problem("env = \"prod\"");
    assert!(
        e.contains("plans/x.toml:5: env: is 'prod' but the file is named for 'dev'"),
        "{e}"
    );
}

#[test]
fn regions_must_be_real_and_different() {
    let e = problem("primary_region = \"us-east-9x\"");
    assert!(
        e.contains(":5: primary_region: 'us-east-9x' is not an AWS region"),
        "{e}"
    );
    let e = problem("secondary_region = \"us-east-1\"");
    assert!(
        e.contains(":5: secondary_region: must differ from primary_region"),
        "{e}"
    );
}

#[test]
fn cidr_rules() {
    let e = problem("primary_vpc_cidr = \"10.0.0/16\"");
    assert!(
        e.contains(":5: primary_vpc_cidr: '10.0.0/16' is not an IPv4 CIDR"),
        "{e}"
    );
    let e = problem("primary_vpc_cidr = \"10.0.0.0/24\"");
    assert!(
        e.contains("primary_vpc_cidr: 10.0.0.0/24 is too small"),
        "{e}"
    );
    let e = problem("secondary_vpc_cidr = \"10.0.128.0/17\"");
    assert!(
        e.contains(":5: secondary_vpc_cidr: 10.0.128.0/17 overlaps primary_vpc_cidr 10.0.0.0/16"),
        "{e}"
    );
    let e = problem("secondary_vpc_cidr = \"10.1.3.0/16\"");
    assert!(
        e.contains("has host bits set; did you mean 10.1.0.0/16"),
        "{e}"
    );
}

#[test]
fn sizes_and_classes() {
    assert!(problem("instance_type = \"\"").contains(":5: instance_type: must not be empty"));
    assert!(problem("db_instance_class = \" \"").contains("db_instance_class: must not be empty"));
    assert!(problem("min_size = 0\ndesired_capacity = 0")
        .contains("min_size: must be at least 1 (got 0)"));
    let e = errors(&format!("{GOOD}max_size = 1\n"), "dev");
    assert!(
        e.contains(":5: max_size: must be at least min_size 2 (got 1)"),
        "{e}"
    );
    let e = problem("desired_capacity = 7");
    assert!(
        e.contains(":5: desired_capacity: must be between min_size 2 and max_size 6 (got 7)"),
        "{e}"
    );
    let e = problem("min_size = \"two\"");
    assert!(
        e.contains(":5: min_size: must be a whole number, not the string \"two\""),
        "{e}"
    );
}

#[test]
fn zone_domain_path_email() {
    for bad in ["Z-123", "/hostedzone/", "zone 1", &"A".repeat(33)] {
        let e = problem_without("hosted_zone_id", &format!("hosted_zone_id = \"{bad}\""));
        assert!(
            e.contains(&format!(
                "hosted_zone_id: '{bad}' is not a Route53 zone id: up to 32 letters and digits"
            )),
            "{e}"
        );
    }
    // Any id the Route53 API takes: AWS's (Z...), LocalStack's (no Z), with
    // or without the /hostedzone/ prefix, which is dropped.
    let base: String = GOOD
        .lines()
        .filter(|l| !l.starts_with("hosted_zone_id"))
        .map(|l| format!("{l}\n"))
        .collect();
    for (given, kept) in [
        ("Z1234567890ABC", "Z1234567890ABC"),
        (
            "A1B2C3D4E5F6G7H8I9J0K1L2M3N4O5P6",
            "A1B2C3D4E5F6G7H8I9J0K1L2M3N4O5P6",
        ),
        ("/hostedzone/ZQKXHP7EXAMPLE", "ZQKXHP7EXAMPLE"),
    ] {
        let text = format!("{base}hosted_zone_id = \"{given}\"\n");
        let p = envplan::parse(Path::new("plans/x.toml"), &text, "dev").unwrap();
        assert_eq!(p.dns, envplan::Dns::ExistingZone(kept.into()), "{given}");
    }
    let e = problem_without("hosted_zone_id", "");
    assert!(
        e.contains("hosted_zone_id: is required unless create_hosted_zone = true"),
        "{e}"
    );
    let e = problem("create_hosted_zone = true");
    assert!(
        e.contains("create_hosted_zone: cannot be true together with hosted_zone_id"),
        "{e}"
    );
    let e = problem_without("domain_name", "domain_name = \"not a domain\"");
    assert!(
        e.contains("domain_name: 'not a domain' is not a valid domain name"),
        "{e}"
    );
    assert!(problem_without("domain_name", "").contains("domain_name: is required"));
    let e = problem("health_check_path = \"health\"");
    assert!(
        e.contains(":5: health_check_path: must start with '/'"),
        "{e}"
    );
    let e = problem_without("alert_email", "alert_email = \"ops.example.com\"");
    assert!(
        e.contains("alert_email: 'ops.example.com' is not an email address"),
        "{e}"
    );
    assert!(problem_without("alert_email", "").contains("alert_email: is required"));
}

#[test]
fn tags_and_unknown_keys() {
    let e = problem("[tags]\n\"drctl:env\" = \"x\"");
    assert!(
        e.contains("tags.drctl:env: tag keys starting with 'aws:' or 'drctl:' are reserved"),
        "{e}"
    );
    assert!(problem("[tags]\nName = \"x\"").contains("tags.Name: is set by drctl"));
    let e = problem("min_sise = 3");
    assert!(
        e.contains(
            "plans/x.toml:5: min_sise: unknown key in the top-level table (did you mean min_size?)"
        ),
        "{e}"
    );
    let e = problem("[tags]\nTeam = 1");
    assert!(
        e.contains("tags.Team: in table [tags]: a tag value must be a string"),
        "{e}"
    );
    let e = problem("domain_name = \"twice.example.com\"");
    assert!(e.contains(":5:"), "{e}");
}

#[test]
fn all_problems_are_reported_at_once() {
    let err = envplan::parse(
        Path::new("plans/x.toml"),
        "min_size = 0\nhealth_check_path = \"x\"\n",
        "dev",
    )
    .unwrap_err();
    let keys: Vec<&str> = err.problems.iter().map(|p| p.key.as_str()).collect();
    assert!(
        keys.contains(&"min_size")
            && keys.contains(&"health_check_path")
            && keys.contains(&"domain_name")
            && keys.contains(&"alert_email"),
        "{keys:?}"
    );
}

#[test]
fn drill_targets_default_to_the_document_and_parse_units() {
    use std::time::Duration;
    let p = envplan::parse(Path::new("plans/dev.toml"), GOOD, "dev").unwrap();
    assert_eq!(p.drill_targets.rto, Duration::from_secs(300));
    assert_eq!(p.drill_targets.rpo_dynamodb, Duration::from_secs(1));
    assert_eq!(p.drill_targets.rpo_s3, Duration::from_secs(900));
    let text = format!(
        "{GOOD}rto_target = \"90s\"\nrpo_target_dynamodb = \"500ms\"\nrpo_target_s3 = \"1h\"\n"
    );
    let p = envplan::parse(Path::new("plans/dev.toml"), &text, "dev").unwrap();
    assert_eq!(p.drill_targets.rto, Duration::from_secs(90));
    assert_eq!(p.drill_targets.rpo_dynamodb, Duration::from_millis(500));
    assert_eq!(p.drill_targets.rpo_s3, Duration::from_secs(3600));
}

#[test]
fn drill_targets_need_a_positive_whole_number_and_a_unit() {
    let e = problem("rto_target = \"5\"");
    assert!(
        e.contains("plans/x.toml:5: rto_target: '5' has no unit"),
        "{e}"
    );
    let e = problem("rpo_target_s3 = \"15 minutes\"");
    assert!(
        e.contains("rpo_target_s3: '15 minutes' has an unknown unit"),
        "{e}"
    );
    let e = problem("rpo_target_dynamodb = \"0s\"");
    assert!(e.contains("rpo_target_dynamodb: '0s' is zero"), "{e}");
    let e = problem("rto_target = \"1.5m\"");
    assert!(e.contains("rto_target: '1.5m'"), "{e}");
    // A wrong type names the key too (any key: the line's).
    let e = problem("rto_target = 300");
    assert!(
        e.contains(
            "plans/x.toml:5: rto_target: must be a string (in double quotes), not the integer 300"
        ),
        "{e}"
    );
    let e = problem("min_size = \"two\"");
    assert!(
        e.contains("plans/x.toml:5: min_size: must be a whole number, not the string \"two\""),
        "{e}"
    );
}

#[test]
fn usage_table_is_optional_and_overridable_per_region() {
    use drctl_stack::usage::Origin;
    let p = envplan::parse(Path::new("plans/x.toml"), GOOD, "dev").unwrap();
    assert_eq!(
        p.usage.get("nat_gb", Some("us-east-1")),
        (100.0, Origin::Default)
    );
    let text = format!(
        "{GOOD}\n[usage]\nnat_gb = 300\ns3_storage_gb = 2.5\n\n[usage.us-west-2]\nnat_gb = 0\n"
    );
    let p = envplan::parse(Path::new("plans/x.toml"), &text, "dev").unwrap();
    assert_eq!(
        p.usage.get("nat_gb", Some("us-east-1")),
        (300.0, Origin::Plan)
    );
    assert_eq!(
        p.usage.get("nat_gb", Some("us-west-2")),
        (0.0, Origin::Region)
    );
    assert_eq!(p.usage.get("s3_storage_gb", None), (2.5, Origin::Plan));
}

#[test]
fn usage_errors_name_the_key_and_line_and_say_what_to_do() {
    let e = problem("[usage]\nnat_gigabytes = 3");
    assert!(
        e.contains("plans/x.toml:6: usage.nat_gigabytes: unknown usage key; the keys are: nat_gb,"),
        "{e}"
    );
    let e = problem("[usage]\nnat_gb = -1");
    assert!(
        e.contains(":6: usage.nat_gb: must be zero or more (got -1)"),
        "{e}"
    );
    let e = problem("[usage]\nnat_gb = \"lots\"");
    assert!(
        e.contains("usage.nat_gb: must be a number (got string"),
        "{e}"
    );
    let e = problem("[usage.eu-west-1]\nnat_gb = 3");
    assert!(e.contains(":5: usage.eu-west-1: is not a region of this env: per-region usage tables are [usage.us-east-1] and [usage.us-west-2]"), "{e}");
    let e = problem("[usage.us-west-2]\ns3_storage_gb = 3");
    assert!(
        e.contains("usage.us-west-2.s3_storage_gb: s3_storage_gb describes the data as a whole"),
        "{e}"
    );
    let e = problem("[usage.us-west-2]\nlcu = 3");
    assert!(
        e.contains("usage.us-west-2.lcu: unknown usage key; per-region keys are: nat_gb, alb_lcu"),
        "{e}"
    );
}

#[test]
fn readme_documents_every_usage_key_with_its_default() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    for k in drctl_stack::usage::KEYS {
        let row = format!(
            "| `{}` | {} | {} |",
            k.name,
            k.default,
            if k.per_region { "yes" } else { "no" }
        );
        assert!(readme.contains(&row), "README's usage table lacks {row}");
    }
}

/// AWS's tag limits (drctl_stack::kinds::TAG_LIMITS), with drctl's own five
/// tags counted: Route53's 10 leave `[tags]` five keys; a sixth is an error
/// naming the file, the table's line, the limit, its source and the count
/// allowed, instead of a `~ tags` on every plan.
#[test]
fn tags_beyond_the_tightest_aws_limit_are_an_error_naming_limit_and_source() {
    let five: String = (1..=5).map(|i| format!("T{i} = \"v\"\n")).collect();
    let ok = format!("{GOOD}[tags]\n{five}");
    envplan::parse(Path::new("plans/x.toml"), &ok, "dev").expect("five extra tags fit");
    let e = problem(&format!("[tags]\n{five}T6 = \"v\""));
    assert!(
        e.contains("plans/x.toml:5: tags: has 6 keys, but AWS allows at most 10 tags on a Route53 hosted zone or health check (route53:health-check; source: Route 53 API reference, ChangeTagsForResource"),
        "{e}"
    );
    assert!(
        e.contains("drctl puts 5 of its own on it (Name, Environment, Application, drctl:env, drctl:address): [tags] can have at most 5 keys. Remove 1 of them."),
        "{e}"
    );
}

#[test]
fn readme_lists_the_import_id_of_every_importable_kind() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    for i in drctl_stack::kinds::IMPORT_IDS {
        let row = format!("| `{}` | `{}` | {} |", i.kind, i.terraform, i.form);
        assert!(readme.contains(&row), "README lacks the row {row}");
    }
}

/// README's table "The plan file" shows the defaults the code uses: every
/// entry of `envplan::DEFAULTS` is in a row of that table with the same
/// value, and every drill target's README default parses to
/// `Targets::default()`.
#[test]
fn readme_plan_table_shows_the_defaults_the_code_uses() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    let table = readme
        .split("## The plan file")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("README has a section \"The plan file\"");
    let clean = |s: &str| s.trim().trim_matches('`').trim_matches('"').to_string();
    let mut shown = std::collections::BTreeMap::new();
    for row in table.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let keys: Vec<String> = cells[1].split(", ").map(clean).collect();
        let values: Vec<String> = cells[2].split(", ").map(clean).collect();
        if keys.len() == values.len() {
            shown.extend(keys.into_iter().zip(values));
        }
    }
    for (key, default) in envplan::DEFAULTS {
        assert_eq!(
            shown.get(*key).map(String::as_str),
            Some(*default),
            "README's plan table and envplan::DEFAULTS disagree on {key}"
        );
    }
    // The drill targets: a plan that sets them to README's defaults plans
    // what a plan that leaves them out does.
    let with = format!(
        "{GOOD}rto_target = \"{}\"\nrpo_target_dynamodb = \"{}\"\nrpo_target_s3 = \"{}\"\n",
        shown["rto_target"], shown["rpo_target_dynamodb"], shown["rpo_target_s3"]
    );
    let parse = |t: &str| {
        envplan::parse(Path::new("plans/x.toml"), t, "dev")
            .unwrap()
            .drill_targets
    };
    assert_eq!(parse(&with), parse(GOOD));
    assert_eq!(parse(GOOD), drctl_core::drill::Targets::default());
}
