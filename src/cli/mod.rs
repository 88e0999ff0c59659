//! The command line: one file per subcommand. `anyhow` lives here and in `main` only.

use std::process::ExitCode;

/// Entry point of the binary.
pub fn main() -> ExitCode {
    ExitCode::SUCCESS
}
