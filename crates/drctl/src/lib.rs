//! The drctl command line: parses (`cli`), calls the engine (`commands`),
//! renders (`render`, `progress`, `markdown`, `outputs`, `cost`). Saved plans in
//! `savedplan`.

pub mod backends;
pub mod cli;
pub mod commands;
pub mod cost;
pub mod drill;
pub mod drill_report;
pub mod markdown;
pub mod outputs;
pub mod progress;
pub mod render;
pub mod savedplan;
pub mod statecmd;

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
    // Notices (a call being retried for a while) always reach the user.
    let filter = match format!("{}=info", drctl_aws::retry::NOTICE_TARGET).parse() {
        Ok(d) => filter.add_directive(d),
        Err(_) => filter,
    };
    let output = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_target(false)
        // A closed stderr must not turn into a panic or a message about itself.
        .log_internal_errors(false)
        .with_filter(tracing_subscriber::filter::filter_fn(|m| {
            drops_secrets(m) && m.target() != drctl_aws::retry::NOTICE_TARGET
        }));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(output)
        .with(Notices)
        .try_init();
}

/// Prints the message of every notice event as one plain line on stderr,
/// through the renderer (no timestamp or level: it is meant for the user).
struct Notices;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Notices {
    fn on_event(&self, event: &tracing::Event<'_>, _cx: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() != drctl_aws::retry::NOTICE_TARGET {
            return;
        }
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        let mut m = Message(String::new());
        event.record(&mut m);
        errln!("{}", m.0);
    }
}

pub fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse_from(cli::terraform_spellings(std::env::args_os())) {
        Ok(cli) => cli,
        // Usage errors exit 1, as Terraform's do: 2 means "changes present"
        // to `plan -detailed-exitcode`. Help and version exit 0.
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.exit_code() == 0 { 0 } else { 1 });
        }
    };
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
            crate::errln!("Error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = match runtime.block_on(commands::run(cli, style)) {
        Ok(code) => code,
        Err(e) => {
            crate::errln!("{} {e:#}", style.red("Error:"));
            return ExitCode::from(1);
        }
    };
    // Output that could not be written (not a closed pipe) is a failure of
    // the command, even when its work succeeded.
    if let Some(why) = render::stdout_failure() {
        crate::errln!(
            "{} could not write the output to stdout ({why}); the command's work finished, but what it printed is incomplete",
            style.red("Error:")
        );
        return ExitCode::from(1);
    }
    code
}
