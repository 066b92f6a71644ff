//! `drctl-chaos --upstream http://127.0.0.1:4566 --listen 127.0.0.1:4610 --seed 1 --fail 0.2`
//!
//! Runs the fault-injecting proxy until interrupted, then prints what it
//! injected. `--hold K` forwards the K-th mutating call, prints
//! `held K service:Operation` and never answers it (kill drctl then).

use drctl_chaos::{Proxy, Rules};
use std::time::Duration;

fn usage() -> ! {
    eprintln!(
        "usage: drctl-chaos --upstream URL [--listen ADDR] [--seed N] [--fail F] [--lose F] \
         [--drop F] [--delay-fraction F --delay-ms MS] [--hold K]"
    );
    std::process::exit(2)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut upstream = None;
    let mut listen = "127.0.0.1:0".to_string();
    let mut rules = Rules::default();
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        let num = |v: String| v.parse::<f64>().unwrap_or_else(|_| usage());
        match flag.as_str() {
            "--upstream" => upstream = Some(value()),
            "--listen" => listen = value(),
            "--seed" => rules.seed = num(value()) as u64,
            "--fail" => rules.fail_fraction = num(value()),
            "--lose" => rules.lose_fraction = num(value()),
            "--drop" => rules.drop_fraction = num(value()),
            "--delay-fraction" => rules.delay_fraction = num(value()),
            "--delay-ms" => rules.delay = Duration::from_millis(num(value()) as u64),
            "--hold" => rules.hold_mutating = Some(num(value()) as u64),
            _ => usage(),
        }
    }
    let upstream = upstream.unwrap_or_else(|| usage());
    let proxy = Proxy::start(listen.parse()?, &upstream, rules.clone()).await?;
    println!("listening {} -> {upstream}", proxy.url());
    if rules.hold_mutating.is_some() {
        let (k, op) = proxy.held().await;
        println!("held {k} {op}");
    }
    tokio::signal::ctrl_c().await?;
    println!("{:?}", proxy.stats());
    Ok(())
}
