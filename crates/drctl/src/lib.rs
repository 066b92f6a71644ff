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

/// Crates whose trace level may print request or response bodies.
const SECRET_SAFE_CAPS: &[&str] = &[
    "aws_smithy_runtime=debug",
    "aws_smithy_runtime_api=debug",
    "aws_smithy_http_client=debug",
    "aws_smithy_http=debug",
    "aws_sdk_secretsmanager=debug",
    "hyper=debug",
    "hyper_util=debug",
    "h2=debug",
    "rustls=debug",
];

/// Logs go to stderr through `tracing`: RUST_LOG wins, else `-v` counts.
fn init_logging(verbose: u8, color: bool) {
    let default = match verbose {
        0 => "warn",
        1 => "info,aws_config=warn,aws_smithy_runtime=warn",
        2 => "debug,aws_config=info,aws_smithy_runtime=info,hyper=info,rustls=info",
        _ => "trace",
    };
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // The SDK's and HTTP stack's trace output can include response bodies
    // (a GetSecretValue answer holds the DB password): capped even when
    // RUST_LOG asks for trace.
    for cap in SECRET_SAFE_CAPS {
        if let Ok(d) = cap.parse() {
            filter = filter.add_directive(d);
        }
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_target(false)
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
