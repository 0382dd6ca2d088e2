//! The `tinkerdb` binary: parses the command line and runs the chosen subcommand.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = tinkerdb::cli::Cli::parse();
    let args = match cli.command {
        Some(tinkerdb::cli::Command::Server(args)) => args,
        None => tinkerdb::cli::ServerArgs::default(),
    };
    let config = match args.into_config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("tinkerdb: {e}");
            return ExitCode::from(2);
        }
    };
    tinkerdb::logging::init(&config);
    match tinkerdb::node::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "tinkerdb stopped on an error");
            eprintln!("tinkerdb: {e}");
            ExitCode::FAILURE
        }
    }
}
