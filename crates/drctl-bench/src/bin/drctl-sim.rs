//! `drctl-sim [--plans-dir DIR] [--parallelism N] [ENV...]` (default:
//! plans/, 10, prod-dr dev): the simulation benchmark (see the crate docs),
//! one line per graph and direction. `scripts/bench.sh --sim` runs it.

use anyhow::{bail, Context, Result};
use drctl_bench::{load_specs, run_paused, state_write_cost, World};
use drctl_stack::timings::EXPECTED;
use std::path::PathBuf;

fn main() -> Result<()> {
    let mut plans_dir = PathBuf::from("plans");
    let mut parallelism = 10usize;
    let mut envs = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--plans-dir" => {
                plans_dir = args.next().context("--plans-dir needs a directory")?.into()
            }
            "--parallelism" => {
                parallelism = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|n| *n >= 1)
                    .context("--parallelism needs a number >= 1")?
            }
            "-h" | "--help" => {
                println!("usage: drctl-sim [--plans-dir DIR] [--parallelism N] [ENV...]");
                return Ok(());
            }
            flag if flag.starts_with('-') => bail!("unknown option {flag} (see --help)"),
            env => envs.push(env.to_string()),
        }
    }
    if envs.is_empty() {
        envs = vec!["prod-dr".into(), "dev".into()];
    }
    for env in &envs {
        // Destroying needs the database's deletion protection off (as a
        // user turns it off first); it changes no duration.
        let specs = load_specs(&plans_dir, env, true)?;
        let world = World::new(specs.clone(), EXPECTED)?;
        let unordered = World::address_order(specs, EXPECTED)?;
        let primary = world
            .graph
            .in_order()
            .find_map(|s| s.region.clone())
            .unwrap_or_default();
        let (apply, destroy, by_hand, serial, unordered) = run_paused(async {
            let apply = world.run(false, parallelism).await?;
            let destroy = world.run(true, parallelism).await?;
            let serial = world.run(false, 1).await?;
            let by_hand = world.by_hand(&primary).await;
            let unordered = (
                unordered.run(false, parallelism).await?,
                unordered.run(true, parallelism).await?,
            );
            anyhow::Ok((apply, destroy, by_hand, serial, unordered))
        })??;
        for (what, f) in [("apply", apply), ("destroy", destroy)] {
            println!(
                "sim {what} {env}: makespan {}s, critical path {}s, ratio {:.2}",
                f.makespan,
                f.critical_path,
                f.ratio()
            );
        }
        println!(
            "sim by-hand {env}: makespan {by_hand}s, drctl/by-hand {:.2}",
            apply.makespan as f64 / by_hand.max(1) as f64
        );
        println!(
            "sim address-order {env}: apply makespan {}s (ratio {:.2}), destroy {}s (ratio {:.2}): without critical-path-first",
            unordered.0.makespan,
            unordered.0.ratio(),
            unordered.1.makespan,
            unordered.1.ratio()
        );
        println!(
            "sim apply {env} -parallelism=1: makespan {}s ({:.1}x the default's)",
            serial.makespan,
            serial.makespan as f64 / apply.makespan.max(1) as f64
        );
        let (bytes, per_write) = state_write_cost(&world, 20)?;
        println!(
            "sim state writes {env}: {} per apply, {:.1} KB each, {:.2} ms per write (local file: temp, fsync, rename, .backup; real time) = {:.2} s per apply",
            apply.state_writes,
            bytes as f64 / 1024.0,
            per_write.as_secs_f64() * 1000.0,
            per_write.as_secs_f64() * apply.state_writes as f64
        );
    }
    Ok(())
}
