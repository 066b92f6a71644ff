//! The drctl command line: parses (`cli`), calls the engine (`commands`),
//! renders (`render`, `progress`, `markdown`, `outputs`). Saved plans in
//! `savedplan`.

pub mod cli;
pub mod commands;
pub mod markdown;
pub mod outputs;
pub mod progress;
pub mod render;
pub mod savedplan;

use clap::Parser;
use std::io::IsTerminal;
use std::process::ExitCode;

/// Crates whose trace output can include request or response bodies (a
/// GetSecretValue answer holds the DB password). Their TRACE events are
/// dropped whatever RUST_LOG says; their DEBUG and above still show.
const BODY_PRINTING_TARGETS: &[&str] = &[
    "aws_smithy",
    "aws_sdk_",
    "aws_runtime",
    "hyper",
    "h2",
    "rustls",
];

fn drops_secrets(meta: &tracing::Metadata<'_>) -> bool {
    !(*meta.level() == tracing::Level::TRACE
        && BODY_PRINTING_TARGETS
            .iter()
            .any(|t| meta.target().starts_with(t)))
}

/// Logs go to stderr through `tracing`: RUST_LOG wins, else `-v` counts.
fn init_logging(verbose: u8, color: bool) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    let default = match verbose {
        // The credential chain warns about every provider it tries (IMDS...).
        0 => "warn,aws_config=error",
        1 => "info,aws_config=warn,aws_smithy_runtime=warn",
        2 => "debug,aws_config=info,aws_smithy_runtime=info,hyper=info,rustls=info",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let output = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_target(false)
        .with_filter(tracing_subscriber::filter::filter_fn(drops_secrets));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(output)
        .try_init();
}

pub fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let color = !cli.global.no_color
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::io::stdout().is_terminal();
    init_logging(cli.global.verbose, color && std::io::stderr().is_terminal());
    let style = render::Style { color };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::run(cli, style)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{} {e:#}", style.red("Error:"));
            ExitCode::from(1)
        }
    }
}
