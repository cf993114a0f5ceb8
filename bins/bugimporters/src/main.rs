//! `bugimporters`: the crawler's command line. Thin wiring: arguments in, library calls, exit
//! status out (0 all fine, 1 some trackers or bugs failed, 2 unusable configuration or
//! arguments). See `docs/operations.md`.

mod cli;
mod commands;
mod demo;
mod serve;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_tracing(&cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(commands::run(cli.command)) {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            bugimporters_core::redact::eprint_error(format_args!("{e:#}"));
            ExitCode::from(2)
        }
    }
}

fn init_tracing(format: &str) {
    bugimporters_core::log::LogSetup::new("info")
        .json(format == "json")
        .init();
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
