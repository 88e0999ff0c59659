//! The command line: one file per subcommand. `anyhow` lives here and in `main` only.

pub mod check_config;

use std::process::ExitCode;

/// Entry point of the binary.
pub fn main() -> ExitCode {
    ExitCode::SUCCESS
}
