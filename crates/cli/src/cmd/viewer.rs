//! `rewardsmith view` and `rewardsmith render`: handed to the `rewardsmith-viewer` binary (as
//! `git` hands `git foo` to `git-foo`), which alone links Bevy's rendering stack, so building and
//! running the rest of rewardsmith never waits for it.

use anyhow::{Context as _, Result};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

/// The viewer's arguments, passed on untouched (`rewardsmith-viewer view --help` lists them).
#[derive(clap::Args)]
pub struct Args {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "ARGS")]
    args: Vec<OsString>,
}

/// The viewer binary: `$REWARDSMITH_VIEWER`, else `rewardsmith-viewer` beside this executable
/// (where cargo builds it), else on the `PATH`.
fn viewer_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("REWARDSMITH_VIEWER") {
        return PathBuf::from(path);
    }
    let name = format!("rewardsmith-viewer{}", std::env::consts::EXE_SUFFIX);
    std::env::current_exe().ok().and_then(|exe| exe.parent().map(|dir| dir.join(&name))).filter(|p| p.is_file()).unwrap_or_else(|| PathBuf::from(name))
}

/// The viewer binary, if it is there to run: as [`viewer_binary`] finds it, a bare name looked up
/// on the `PATH`.
pub fn installed() -> Option<PathBuf> {
    let binary = viewer_binary();
    if binary.is_file() {
        return Some(binary);
    }
    if binary.components().count() != 1 {
        return None;
    }
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join(&binary)).find(|p| p.is_file())
}

/// Runs `rewardsmith-viewer SUBCOMMAND ARGS…` and passes on its exit code.
pub fn run(subcommand: &str, args: Args) -> Result<ExitCode> {
    let binary = viewer_binary();
    let status = Command::new(&binary).arg(subcommand).args(&args.args).status().with_context(|| {
        format!(
            "cannot start the viewer ({}): it is a separate binary; build it with `cargo build --release -p rewardsmith-viewer` \
             (beside this one), or point REWARDSMITH_VIEWER at it",
            binary.display()
        )
    })?;
    Ok(match status.code() {
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::from(1),
    })
}
