//! Property test of the plan-file parser: whatever the bytes, `parse`
//! returns a plan or errors naming the file; it never panics. Inputs are
//! arbitrary text and mutations of the real `plans/dev.toml` (truncated,
//! spliced, a value retyped), which reach far deeper than random text.
//! Bounded: 600 cases per property (about a second).

use drctl_stack::envplan::parse;
use proptest::prelude::*;
use std::path::Path;

fn dev() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plans/dev.toml"))
        .unwrap()
}

/// Nearest char boundary at or below `i`.
fn floor(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn check(text: &str) {
    let file = Path::new("plans/qa-1.toml");
    match parse(file, text, "qa-1") {
        Ok(p) => assert_eq!(p.env, "qa-1"),
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.starts_with("plans/qa-1.toml has "), "{msg}");
            assert!(!e.problems.is_empty());
        }
    }
}

const PIECES: &[&str] = &[
    "=",
    "\"",
    "[",
    "]",
    "[tags]",
    "\n",
    "#",
    "'",
    "1",
    "-1",
    "true",
    "1.5",
    "{",
    "}",
    ",",
    "min_size",
    "tags.x",
    "\"\"\"",
    "\\u00e9",
    "é",
    "\u{0}",
    "99999999999999999999",
    "1979-05-27",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        check(&text);
    }

    #[test]
    fn mutated_dev_plans_never_panic(
        cut in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        len in 0usize..40,
        piece in prop::sample::select(PIECES),
        mode in 0u8..3,
    ) {
        let src = dev();
        let a = floor(&src, at.index(src.len() + 1));
        let text = match mode {
            // Truncated anywhere.
            0 => src[..floor(&src, cut.index(src.len() + 1))].to_string(),
            // Something inserted anywhere.
            1 => format!("{}{piece}{}", &src[..a], &src[a..]),
            // A stretch deleted.
            _ => format!("{}{}", &src[..a], &src[floor(&src, a + len)..]),
        };
        check(&text);
    }
}
