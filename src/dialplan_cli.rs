//! `asterism dialplan check FILE` and `asterism dialplan show FILE [[EXTEN@]CONTEXT]`:
//! the dialplan tools Asterisk users reach for, without a running PBX.

use asterism_router::dialplan::{self, show::show};
use std::path::Path;
use std::process::ExitCode;

const USAGE: &str =
    "usage: asterism dialplan check FILE\n       asterism dialplan show FILE [[EXTEN@]CONTEXT]";

pub fn run(args: &[String]) -> ExitCode {
    match args {
        [cmd, file] if cmd == "check" => check(Path::new(file)),
        [cmd, file, rest @ ..] if cmd == "show" && rest.len() <= 1 => {
            match dialplan::load(Path::new(file)) {
                Ok((plan, _)) => match show(&plan, rest.first().map(String::as_str)) {
                    Ok(text) => {
                        print!("{text}");
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("{e}");
                        ExitCode::from(1)
                    }
                },
                Err(diags) => {
                    eprint!("{diags}");
                    ExitCode::from(1)
                }
            }
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(64)
        }
    }
}

fn check(file: &Path) -> ExitCode {
    match dialplan::load(file) {
        Ok((plan, diags)) => {
            eprint!("{diags}");
            let (contexts, exts, prios) = plan.counts();
            println!(
                "{}: OK: {contexts} contexts, {exts} extensions, {prios} priorities, {} warnings",
                file.display(),
                diags.warnings().count()
            );
            ExitCode::SUCCESS
        }
        Err(diags) => {
            eprint!("{diags}");
            ExitCode::from(1)
        }
    }
}
