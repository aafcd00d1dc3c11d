//! `rewardsmith-viewer`: the viewer's binary, started by `rewardsmith view` and `rewardsmith
//! render` (or directly). Exit codes: 0 success, 1 failure, 2 usage.

use anyhow::{Context as _, Result, bail};
use bevy::input::keyboard::KeyCode;
use clap::{Parser, Subcommand};
use rewardsmith_viewer::keys::{HELP, key_code};
use rewardsmith_viewer::render::{self, Options, Output};
use rewardsmith_viewer::sheet::SheetOptions;
use rewardsmith_viewer::{GenerationView, ScriptedKeys};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "rewardsmith-viewer", version, about = "Watch a generation's rollouts side by side, rank them, render GIFs")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Play a generation's evaluation rollouts side by side and rank them (keys below).
    #[command(after_help = HELP)]
    View(ViewArgs),
    /// Render a rollout offscreen to an animated GIF (`--gif`) or a contact sheet (`--sheet`).
    Render(RenderArgs),
    /// Render contact sheets offscreen: one PNG per rollout, a grid of frames of its episode at
    /// evenly spaced times, each labelled with its time (pictures for a vision-language model).
    Sheet(SheetArgs),
}

/// How a contact sheet looks (`sheet`, `render --sheet`).
#[derive(clap::Args)]
struct SheetLook {
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

impl SheetLook {
    fn options(&self) -> SheetOptions {
        SheetOptions { frames: self.frames, columns: self.columns, tile: self.tile, episode: self.episode }
    }
}

#[derive(clap::Args)]
struct SheetArgs {
    /// Rollout files: one with `--out`, or any number of `ROLLOUT=PNG` pairs (rendered in one
    /// run: one start and warm-up for a whole generation).
    #[arg(required = true, value_name = "ROLLOUT")]
    rollouts: Vec<String>,
    /// The PNG to write (with one plain ROLLOUT).
    #[arg(long, value_name = "PNG")]
    out: Option<PathBuf>,
    #[command(flatten)]
    look: SheetLook,
}

#[derive(clap::Args)]
struct ViewArgs {
    /// The search's run directory.
    run: PathBuf,
    /// The generation (default: the one a search waits to have ranked, else the last).
    #[arg(long = "gen", value_name = "N")]
    generation: Option<usize>,
    /// Window (or image) size in pixels, WxH.
    #[arg(long, default_value = "1280x800", value_parser = parse_size)]
    size: (u32, u32),
    /// Render `--frames` frames, save the last to this PNG file, and exit.
    #[arg(long, value_name = "FILE")]
    screenshot: Option<PathBuf>,
    /// Frames to render before `--screenshot`.
    #[arg(long, default_value_t = 60, requires = "screenshot")]
    frames: u32,
    /// Render into an image instead of a window (no X server needed); with `--screenshot`, or
    /// with `--keys` ending in `enter` or `esc`.
    #[arg(long)]
    offscreen: bool,
    /// Keys to press at startup, comma-separated (`2,0,1,enter`): a scripted ranking through the
    /// same path as typed keys (`0`-`9`, `a`-`z`, `enter`, `esc`, `backspace`, `space`, `left`,
    /// `right`, `+`, `-`).
    #[arg(long, value_delimiter = ',', value_parser = parse_key)]
    keys: Vec<KeyCode>,
    /// Start with each tile's reward terms and fitness over the episode shown (key T).
    #[arg(long)]
    terms: bool,
}

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("output").required(true).args(["gif", "sheet"])))]
struct RenderArgs {
    /// A rollout file (`eval --record`, a search's `cand-KK/eval.rollout`).
    rollout: PathBuf,
    /// The GIF to write.
    #[arg(long, value_name = "OUT")]
    gif: Option<PathBuf>,
    /// A contact sheet PNG to write instead (as `sheet ROLLOUT --out PNG`; `--frames`, `--columns`,
    /// `--tile`, `--episode` shape it).
    #[arg(long, value_name = "PNG")]
    sheet: Option<PathBuf>,
    /// Image size in pixels, WxH.
    #[arg(long, default_value = "320x240", value_parser = parse_size)]
    size: (u32, u32),
    /// GIF frames per second of simulated time (every n-th control step is kept).
    #[arg(long, default_value_t = 25.0)]
    fps: f64,
    #[command(flatten)]
    look: SheetLook,
}

/// The (rollout, PNG) pairs `sheet` is asked for: one ROLLOUT with `--out`, or `ROLLOUT=PNG`s. An
/// argument naming an existing file is a rollout even if it holds `=`.
fn sheet_jobs(rollouts: &[String], out: Option<&Path>) -> Result<Vec<(PathBuf, PathBuf)>> {
    if let Some(out) = out {
        let [rollout] = rollouts else { bail!("--out takes one ROLLOUT; give several as ROLLOUT=PNG pairs") };
        return Ok(vec![(PathBuf::from(rollout), out.to_owned())]);
    }
    rollouts
        .iter()
        .map(|arg| match arg.rsplit_once('=') {
            Some((rollout, png)) if !Path::new(arg).is_file() && !rollout.is_empty() && !png.is_empty() => Ok((PathBuf::from(rollout), PathBuf::from(png))),
            _ => bail!("{arg:?}: give the PNG with --out, or as ROLLOUT=PNG"),
        })
        .collect()
}

/// Renders the sheets and says what was written.
fn sheets(jobs: &[(PathBuf, PathBuf)], options: &SheetOptions) -> Result<ExitCode> {
    render::render_sheets(jobs, options)?;
    let (w, h) = options.size();
    for (rollout, png) in jobs {
        println!("wrote {} ({w}x{h}, {} frames of {})", png.display(), options.frames, rollout.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_key(name: &str) -> Result<KeyCode, String> {
    key_code(name).ok_or_else(|| format!("{name:?} is not a key name (0-9, a-z, enter, esc, backspace, space, left, right, +, -)"))
}

fn parse_size(text: &str) -> Result<(u32, u32), String> {
    let (w, h) = text.split_once(['x', 'X']).ok_or_else(|| format!("{text:?}: expected WxH, e.g. 800x600"))?;
    let parse = |s: &str| s.trim().parse::<u32>().ok().filter(|v| (16..=8192).contains(v));
    match (parse(w), parse(h)) {
        (Some(w), Some(h)) => Ok((w, h)),
        _ => Err(format!("{text:?}: width and height must be 16 to 8192 pixels")),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::View(args) => {
            let view = GenerationView::load(&args.run, args.generation)?;
            let generation = view.generation;
            let closes = matches!(args.keys.last(), Some(KeyCode::Enter | KeyCode::Escape));
            if args.offscreen && args.screenshot.is_none() && !closes {
                bail!("--offscreen needs --screenshot, or --keys ending in enter or esc (nothing else would close it)");
            }
            let screenshot = args.screenshot.clone();
            let shot = args.screenshot.map(|p| (p, args.frames));
            let output = if args.offscreen { Output::Offscreen { screenshot: shot } } else { Output::Window { screenshot: shot } };
            let options = Options { width: args.size.0, height: args.size.1, show_terms: args.terms };
            let outcome = render::run(view, options, output, ScriptedKeys(args.keys))?;
            if let Some(path) = screenshot {
                if outcome.frames_saved == 0 || !path.is_file() {
                    bail!(
                        "{}: no frame was rendered; is a Vulkan driver installed (Mesa's lavapipe: apt-get install mesa-vulkan-drivers libvulkan1)?",
                        path.display()
                    );
                }
                println!("saved {}", path.display());
            }
            match outcome.ranking {
                Some(r) => println!("generation {generation}: ranked {} (the waiting search goes on)", r.order.join(" > ")),
                None => println!("generation {generation}: {}", outcome.status),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Sheet(args) => sheets(&sheet_jobs(&args.rollouts, args.out.as_deref())?, &args.look.options()),
        Command::Render(args) => {
            if let Some(png) = args.sheet {
                return sheets(&[(args.rollout, png)], &args.look.options());
            }
            let Some(gif) = args.gif else { bail!("--gif or --sheet is needed") };
            let view = GenerationView::from_rollout(&args.rollout)?;
            let dt = view.env.spec.control_dt();
            if !(args.fps.is_finite() && args.fps > 0.0) {
                bail!("--fps must be > 0");
            }
            let stride = ((1.0 / (args.fps * dt)).round() as usize).max(1);
            // The delay a GIF can state, in hundredths of a second, for that stride.
            let delay_cs = ((stride as f64 * dt * 100.0).round() as u16).max(1);
            let frames = view.frames(0).div_ceil(stride);
            let options = Options { width: args.size.0, height: args.size.1, show_terms: false };
            let outcome = render::run(view, options, Output::Gif { path: gif.clone(), stride, delay_cs }, ScriptedKeys::default())
                .with_context(|| format!("rendering {}", args.rollout.display()))?;
            if outcome.frames_saved != frames || !gif.is_file() {
                bail!("{}: {} of {frames} frames written", gif.display(), outcome.frames_saved);
            }
            println!("wrote {} ({frames} frames, every {stride}th step, {} ms apart)", gif.display(), u32::from(delay_cs) * 10);
            Ok(ExitCode::SUCCESS)
        }
    }
}
