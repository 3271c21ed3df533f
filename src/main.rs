//! `consentry`: parse the command line and dispatch.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = consentry::cli::Cli::parse();
    match consentry::cli::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
