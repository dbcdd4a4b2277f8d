//! The `mailroom` binary: parse the command line, run, map the outcome to an exit status.

fn main() -> std::process::ExitCode {
    mailroom::cli::main()
}
