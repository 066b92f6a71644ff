//! Invariants of the simulation (figures are virtual seconds, never wall time).

use super::*;
use drctl_stack::timings::EXPECTED;

fn plans() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plans")
}

fn total(world: &World, delete: bool) -> u64 {
    world
        .graph
        .in_order()
        .map(|s| secs(EXPECTED, &s.kind, delete))
        .sum()
}

#[test]
fn makespans_lie_between_the_critical_path_and_the_sum() {
    for env in ["dev", "prod-dr"] {
        let world = World::new(load_specs(&plans(), env, true).unwrap(), EXPECTED).unwrap();
        let (apply, destroy, serial, by_hand) = run_paused(async {
            let apply = world.run(false, 10).await.unwrap();
            assert_eq!(world.cloud.len(), world.graph.len(), "{env}: all created");
            let destroy = world.run(true, 10).await.unwrap();
            assert!(world.cloud.is_empty(), "{env}: all deleted");
            let serial = world.run(false, 1).await.unwrap();
            (apply, destroy, serial, world.by_hand("us-east-1").await)
        })
        .unwrap();
        for f in [apply, destroy] {
            assert!(f.critical_path > 0);
            assert!(f.makespan >= f.critical_path, "{env}: {f:?}");
        }
        // One at a time, the makespan is every create in turn.
        assert_eq!(serial.makespan, total(&world, false), "{env}");
        assert!(apply.makespan <= total(&world, false));
        assert!(destroy.makespan <= total(&world, true));
        // The by-hand sequence only adds waits to the same graph.
        assert!(by_hand >= apply.critical_path, "{env}");
        // Write-ahead, whatever the runtime groups into one write: every
        // create call (the first apply and the serial one) and every delete
        // found its own pending record in the state file, and the writes
        // were fewer than two per resource at most.
        let n = world.graph.len() as u64;
        let checks = world.cloud.write_ahead();
        assert_eq!(checks.violations, Vec::<String>::new(), "{env}");
        assert_eq!(checks.recorded, 3 * n, "{env}: {checks:?}");
        assert!(
            apply.state_writes >= 1 && apply.state_writes <= 2 * n,
            "{apply:?}"
        );
    }
}

#[test]
fn by_hand_phases_follow_the_seed() {
    let specs = load_specs(&plans(), "dev", true).unwrap();
    let waits = by_hand_waits(&specs, "us-east-1");
    let find = |kind: &str, region: Option<&str>| {
        specs
            .iter()
            .find(|s| s.kind == kind && s.region.as_deref() == region)
            .map(|s| s.address.clone())
            .unwrap_or_else(|| panic!("no {kind} in {region:?}"))
    };
    let db_primary = find(drctl_stack::kinds::DB_INSTANCE, Some("us-east-1"));
    let vpc_secondary = find(drctl_stack::kinds::VPC, Some("us-west-2"));
    let secret = find(SECRET, Some("us-east-1"));
    // The primary stack waits on the prerequisites, the secondary stack on
    // the whole primary stack.
    assert!(waits[&find(drctl_stack::kinds::VPC, Some("us-east-1"))].contains(&secret));
    assert!(waits[&vpc_secondary].contains(&db_primary));
}

/// The write-ahead check can fail: a call whose record is not on disk is
/// reported, one whose record is there is counted.
#[test]
fn write_ahead_check_reports_a_call_without_its_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.json");
    let cloud = SimCloud::default();
    *cloud.ledger.lock().unwrap() = Some(path.clone());
    let mut store = StateStore::open(&path, "sim").unwrap();
    let a = Address::new("r/a");
    store.state.pending.insert(
        a.clone(),
        drctl_core::state::PendingOp {
            operation: Operation::Create,
            kind: "k".into(),
            region: None,
            name: "a".into(),
            token: "t1".into(),
            started_at: "now".into(),
        },
    );
    store.save().unwrap();
    cloud.check_pending(&a, Operation::Create, Some("t1"));
    cloud.check_pending(&a, Operation::Create, Some("t2"));
    cloud.check_pending(&a, Operation::Delete, None);
    cloud.check_pending(&Address::new("r/b"), Operation::Create, None);
    let checks = cloud.write_ahead();
    assert_eq!(checks.recorded, 1);
    assert_eq!(checks.violations.len(), 3, "{checks:?}");
}
