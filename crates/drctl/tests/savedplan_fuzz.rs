//! Property test of the saved-plan reader (`drctl apply FILE`): whatever is
//! in the file, `savedplan::read` errors naming the file or returns exactly
//! the plan that was written — an edit can never slip through as another
//! plan — and it never panics. Inputs: arbitrary bytes and mutations of a
//! real saved plan. Bounded: 400 cases per property.

use drctl::savedplan;
use drctl_core::diff::FieldChange;
use drctl_core::model::{Address, Observed};
use drctl_core::plan::{Action, Plan, ResourceChange, PLAN_FORMAT_VERSION};
use proptest::prelude::*;
use serde_json::json;

fn plan() -> Plan {
    Plan {
        format_version: PLAN_FORMAT_VERSION.into(),
        env: "qa-1".into(),
        lineage: "5b0e8c4e-0000-4000-8000-000000000001".into(),
        serial: 4,
        destroy: false,
        changes: vec![ResourceChange {
            address: Address::new("us-east-1/compute/asg"),
            kind: "autoscaling:group".into(),
            region: Some("us-east-1".into()),
            name: "trading-asg-qa-1".into(),
            action: Action::Update,
            adopt: false,
            drift: true,
            fields: vec![FieldChange {
                field: "max_size".into(),
                before: Some(json!(5)),
                after: Some(json!(2)),
                replace_reason: None,
                drift: true,
            }],
            reasons: vec![],
            prior: Some(Observed {
                id: "trading-asg-qa-1".into(),
                props: json!({"max_size": 5}).as_object().unwrap().clone(),
                attrs: Default::default(),
            }),
            dependencies: vec![Address::new("us-east-1/compute/lt")],
            create_before_destroy: false,
        }],
        forget: vec![],
        warnings: vec![],
        orphans: vec![],
        deposed: vec![],
    }
}

fn saved() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("qa.plan");
    savedplan::write(&path, &plan(), "ab".repeat(32).as_str()).unwrap();
    std::fs::read(path).unwrap()
}

fn check(bytes: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("qa.plan");
    std::fs::write(&path, bytes).unwrap();
    match savedplan::read(&path) {
        Ok(s) => {
            assert_eq!(s.plan, plan(), "an accepted file is the plan written");
            assert_eq!(s.env, "qa-1");
        }
        Err(e) => assert!(format!("{e:#}").contains("qa.plan"), "{e:#}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check(&bytes);
    }

    #[test]
    fn edited_plans_are_refused_or_identical(
        at in any::<prop::sample::Index>(),
        len in 0usize..64,
        byte in any::<u8>(),
        mode in 0u8..4,
    ) {
        let mut b = saved();
        let a = at.index(b.len() + 1);
        match mode {
            0 => b.truncate(a),
            1 => b.insert(a, byte),
            2 => { b.drain(a..(a + len).min(b.len())); }
            _ => if a < b.len() { b[a] ^= byte | 1 },
        }
        check(&b);
    }
}

#[test]
fn the_seed_plan_reads_back() {
    check(&saved());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("qa.plan");
    std::fs::write(&path, saved()).unwrap();
    assert!(savedplan::read(&path).is_ok());
}
