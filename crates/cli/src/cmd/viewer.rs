//! `rewardsmith view` and `rewardsmith render`: handed to the `rewardsmith-viewer` binary (as
//! `git` hands `git foo` to `git-foo`), which alone links Bevy's rendering stack, so building and
//! running the rest of rewardsmith never waits for it.
//!
//! Contact sheets (`render ROLLOUT --sheet PNG`, and [`render_sheet`]/[`render_sheets`] for code
//! such as a judge that shows each candidate's episode to a vision model) go through the viewer's
//! `sheet` command.

use anyhow::{Context as _, Result, bail};
use clap::Parser as _;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
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

/// Why the viewer could not be started.
fn cannot_start(binary: &Path) -> String {
    format!(
        "cannot start the viewer ({}): it is a separate binary; build it with `cargo build --release -p rewardsmith-viewer` \
         (beside this one), or point REWARDSMITH_VIEWER at it",
        binary.display()
    )
}

/// Runs `rewardsmith-viewer SUBCOMMAND ARGS…` and passes on its exit code; `render … --sheet PNG`
/// goes through [`render_sheet`], the path other code takes.
pub fn run(subcommand: &str, args: Args) -> Result<ExitCode> {
    if subcommand == "render" && args.args.iter().any(|a| a == "--sheet" || a.to_string_lossy().starts_with("--sheet=")) {
        let sheet = SheetArgs::try_parse_from(&args.args).unwrap_or_else(|e| e.exit());
        let options = SheetOptions { frames: sheet.frames, columns: sheet.columns, tile: sheet.tile, episode: sheet.episode };
        render_sheet(&sheet.rollout, &sheet.sheet, &options)?;
        let (w, h) = options.size();
        println!("wrote {} ({w}x{h} pixels: {} frames of {})", sheet.sheet.display(), options.frames, sheet.rollout.display());
        return Ok(ExitCode::SUCCESS);
    }
    let binary = viewer_binary();
    let status = Command::new(&binary).arg(subcommand).args(&args.args).status().with_context(|| cannot_start(&binary))?;
    Ok(match status.code() {
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::from(1),
    })
}

/// `rewardsmith render ROLLOUT --sheet PNG [--frames N] [--columns C] [--tile WxH] [--episode E]`.
#[derive(clap::Parser)]
#[command(name = "rewardsmith render", no_binary_name = true)]
struct SheetArgs {
    /// A rollout file (`eval --record`, a search's `cand-KK/eval.rollout`).
    rollout: PathBuf,
    /// The contact sheet PNG to write.
    #[arg(long, value_name = "PNG")]
    sheet: PathBuf,
    /// Frames shown, evenly spaced from the episode's first to its last (2 to 64).
    #[arg(long, default_value_t = 6)]
    frames: usize,
    /// Frames per row.
    #[arg(long, default_value_t = 3)]
    columns: usize,
    /// One frame's tile in pixels, WxH.
    #[arg(long, default_value = "256x192", value_parser = parse_size)]
    tile: (u32, u32),
    /// The rollout's episode shown (0: the first).
    #[arg(long, default_value_t = 0)]
    episode: usize,
}

fn parse_size(text: &str) -> Result<(u32, u32), String> {
    let (w, h) = text.split_once(['x', 'X']).ok_or_else(|| format!("{text:?}: expected WxH, e.g. 256x192"))?;
    match (w.trim().parse::<u32>(), h.trim().parse::<u32>()) {
        (Ok(w), Ok(h)) => Ok((w, h)),
        _ => Err(format!("{text:?}: expected WxH in pixels, e.g. 256x192")),
    }
}

/// How a contact sheet looks: what `rewardsmith-viewer sheet` takes (its `SheetOptions`; the
/// CLI does not link the viewer, so the options are restated here).
///
/// A sheet is one PNG of `columns` × ⌈`frames` / `columns`⌉ tiles of `tile` pixels, frame i of
/// the episode at i/(frames − 1) of its length, each labelled with its time (`t = 1.20 s`). The
/// default, six 256 × 192 frames (768 × 384 pixels), keeps a vision-model request to a few image
/// tiles per candidate while every body's motion stays visible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SheetOptions {
    /// Frames shown (2 to 64), evenly spaced from the episode's first to its last.
    pub frames: usize,
    /// Tiles per row (at most `frames` are used).
    pub columns: usize,
    /// One frame's tile, pixels (width, height).
    pub tile: (u32, u32),
    /// The rollout's episode shown (0: the first).
    pub episode: usize,
}

impl Default for SheetOptions {
    fn default() -> Self {
        Self { frames: 6, columns: 3, tile: (256, 192), episode: 0 }
    }
}

impl SheetOptions {
    /// The sheet's size in pixels (width, height), as the viewer draws it.
    pub fn size(&self) -> (u32, u32) {
        let cols = self.columns.clamp(1, self.frames.max(1));
        (cols as u32 * self.tile.0, self.frames.max(1).div_ceil(cols) as u32 * self.tile.1)
    }

    fn args(&self) -> [String; 8] {
        let (w, h) = self.tile;
        [
            "--frames".into(),
            self.frames.to_string(),
            "--columns".into(),
            self.columns.to_string(),
            "--tile".into(),
            format!("{w}x{h}"),
            "--episode".into(),
            self.episode.to_string(),
        ]
    }
}

/// Sheets one viewer process draws at most: a generation's candidates (a search proposes up to
/// 16) share one start and one shader warm-up; more would outgrow one render target.
const SHEETS_PER_PROCESS: usize = 16;

/// Renders the contact sheet of `rollout`'s episode `opts.episode` to the PNG `out` with the
/// viewer binary (offscreen; a few seconds on a software renderer, most of it starting up).
pub(crate) fn render_sheet(rollout: &Path, out: &Path, opts: &SheetOptions) -> Result<()> {
    render_sheets(&[(rollout.to_owned(), out.to_owned())], opts)
}

/// Renders a contact sheet of each `(rollout, png)` pair, as [`render_sheet`] does, in one viewer
/// process per [`SHEETS_PER_PROCESS`] sheets (starting the renderer costs more than drawing a
/// sheet: 8 cartpole sheets take about 11 s in one process, 4 s each in their own on lavapipe).
/// The rollouts must come from one environment (a generation's do). A sheet drawn with others can
/// differ from one drawn alone by a level or two of a colour channel (rasterised at another
/// place of the render target); the same call twice gives identical files.
pub(crate) fn render_sheets(jobs: &[(PathBuf, PathBuf)], opts: &SheetOptions) -> Result<()> {
    let binary = viewer_binary();
    // `ROLLOUT=PNG` pairs split at the last `=`, so a PNG path holding one is drawn on its own
    // with `--out`.
    let (alone, paired): (Vec<_>, Vec<_>) = jobs.iter().partition(|(_, png)| jobs.len() == 1 || png.as_os_str().to_string_lossy().contains('='));
    let mut calls: Vec<Vec<OsString>> = alone.iter().map(|(rollout, png)| vec![rollout.into(), "--out".into(), png.into()]).collect();
    for chunk in paired.chunks(SHEETS_PER_PROCESS) {
        calls.push(
            chunk
                .iter()
                .map(|(rollout, png)| {
                    let mut pair = OsString::from(rollout);
                    pair.push("=");
                    pair.push(png);
                    pair
                })
                .collect(),
        );
    }
    for args in calls {
        let output = Command::new(&binary).arg("sheet").args(&args).args(opts.args()).output().with_context(|| cannot_start(&binary))?;
        if !output.status.success() {
            // Bevy's log lines come first; the viewer's own error is the last line.
            let stderr = String::from_utf8_lossy(&output.stderr);
            let why = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("the viewer failed without a message");
            bail!("contact sheet of {}: {why}", PathBuf::from(&args[0]).display());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sheet_options_match_the_viewers_defaults_and_size() {
        let o = SheetOptions::default();
        assert_eq!(o.size(), (768, 384));
        assert_eq!(SheetOptions { frames: 7, ..o }.size(), (768, 576));
        assert_eq!(SheetOptions { frames: 2, ..o }.size(), (512, 192));
        assert_eq!(o.args().join(" "), "--frames 6 --columns 3 --tile 256x192 --episode 0");
    }

    #[test]
    fn render_sheet_args_parse_as_the_viewer_takes_them() {
        let a = SheetArgs::try_parse_from(["x.rollout", "--sheet", "x.png", "--frames", "4", "--tile", "128x96"]).unwrap();
        assert_eq!((a.frames, a.columns, a.tile, a.episode), (4, 3, (128, 96), 0));
        assert!(SheetArgs::try_parse_from(["x.rollout", "--sheet", "x.png", "--tile", "big"]).is_err());
    }
}
