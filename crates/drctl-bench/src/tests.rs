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
        // Write-ahead: at least one state write before and after each create.
        assert!(
            apply.state_writes >= 2 * world.graph.len() as u64,
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
