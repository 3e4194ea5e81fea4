//! `vigia-loadgen`: see the crate documentation and docs/loadgen.md.

use std::process::ExitCode;

use vigia_loadgen::cli::{Options, USAGE};
use vigia_loadgen::{html, run};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let opts = match Options::parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("vigia-loadgen: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vigia-loadgen: tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run::run(opts.clone())) {
        Ok(report) => {
            print!("{}", html::summary_text(&report));
            println!(
                "reports: {} {}",
                opts.report.display(),
                opts.html_path().display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("vigia-loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}
