//! Property test of the state parser: whatever is in the file,
//! `StateStore::open` returns a state of the right env or a typed error
//! naming the file, never panics, and never writes to the file. Inputs are
//! arbitrary bytes and mutations of a real state (truncated, spliced,
//! bytes flipped). Bounded: 500 cases per property.

use drctl_core::model::Address;
use drctl_core::state::{Operation, PendingOp, ResourceState, State, StateStore};
use proptest::prelude::*;
use serde_json::json;

fn valid() -> Vec<u8> {
    let mut s = State::new("qa-1");
    s.account = Some("123456789012".into());
    s.serial = 7;
    let vpc = Address::new("us-east-1/network/vpc");
    s.resources.insert(
        vpc.clone(),
        ResourceState {
            kind: "ec2:vpc".into(),
            region: Some("us-east-1".into()),
            name: "trading-vpc-qa-1".into(),
            id: "vpc-0abc".into(),
            attrs: json!({"arn": "arn:aws:ec2:us-east-1:123456789012:vpc/vpc-0abc"})
                .as_object()
                .unwrap()
                .clone(),
            applied: json!({"cidr_block": "10.0.0.0/16", "tags": {"a": [1, 2.5, null]}})
                .as_object()
                .unwrap()
                .clone(),
            dependencies: vec![],
        },
    );
    s.pending.insert(
        Address::new("us-east-1/network/nat"),
        PendingOp {
            operation: Operation::Create,
            kind: "ec2:nat-gateway".into(),
            region: Some("us-east-1".into()),
            name: "trading-nat-qa-1".into(),
            token: s.token_for(&Address::new("us-east-1/network/nat")),
            started_at: "2026-01-01T00:00:00Z".into(),
        },
    );
    s.generations.insert(vpc, 1);
    serde_json::to_vec_pretty(&s).unwrap()
}

fn check(bytes: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("qa-1.state.json");
    std::fs::write(&path, bytes).unwrap();
    match StateStore::open(&path, "qa-1") {
        Ok(store) => assert_eq!(store.state.env, "qa-1"),
        Err(e) => assert!(e.to_string().contains("qa-1.state.json"), "{e}"),
    }
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bytes,
        "the file is untouched"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check(&bytes);
    }

    #[test]
    fn mutated_states_never_panic(
        at in any::<prop::sample::Index>(),
        len in 0usize..64,
        byte in any::<u8>(),
        mode in 0u8..4,
    ) {
        let mut b = valid();
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
fn the_seed_state_itself_opens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("qa-1.state.json");
    std::fs::write(&path, valid()).unwrap();
    let s = StateStore::open(&path, "qa-1").unwrap();
    assert_eq!(s.state.resources.len(), 1);
    assert_eq!(s.state.pending.len(), 1);
}
