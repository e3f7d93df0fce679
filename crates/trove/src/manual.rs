//! Shell completions and the manual page, generated from the command line's definition
//! (`cli.rs`), so they list exactly the commands and flags this binary takes. Packages install
//! them (`trove completions bash`, `trove man`); both print to stdout.

use std::io::Write;

use clap::CommandFactory;
use trove_types::Code;

use crate::Failure;
use crate::cli::Cli;

/// Prints the completion script of `shell`.
pub fn completions(shell: clap_complete::Shell) -> Result<(), Failure> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "trove", &mut out);
    write(&out)
}

/// Prints the manual page, `trove(1)`, as roff.
pub fn man() -> Result<(), Failure> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut out)
        .map_err(|e| Failure::new(Code::Internal, format!("the manual page cannot be rendered: {e}")))?;
    write(&out)
}

/// Writes to stdout; a reader that stopped early (`| head`) is not a failure.
fn write(bytes: &[u8]) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Failure::new(Code::IoFailed, format!("cannot write to stdout: {e}")))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_and_the_manual_name_every_command() {
        let mut bash = Vec::new();
        clap_complete::generate(clap_complete::Shell::Bash, &mut Cli::command(), "trove", &mut bash);
        let bash = String::from_utf8(bash).unwrap();
        let mut man = Vec::new();
        clap_mangen::Man::new(Cli::command()).render(&mut man).unwrap();
        let man = String::from_utf8(man).unwrap();
        assert!(man.starts_with(".ie") || man.contains(".TH trove 1"), "{man}");
        for command in Cli::command().get_subcommands().map(|c| c.get_name().to_string()) {
            assert!(bash.contains(&command), "{command} is not completed");
            assert!(man.contains(&command), "{command} is not in the manual");
        }
    }
}
