//! The viewer binary rendering real rollouts offscreen (Vulkan; in CI Mesa's lavapipe): a
//! screenshot with one tile per candidate, and a GIF with one frame per kept step.

#[path = "../src/testing.rs"]
#[allow(dead_code)]
mod testing;

use std::path::Path;
use std::process::Command;

fn viewer(args: &[&str], dir: &Path) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_rewardsmith-viewer")).args(args).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "{args:?}\nstdout: {}\nstderr: {}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    out
}

/// RGB rows of a PNG.
fn read_png(path: &Path) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb, "screenshots are saved as RGB");
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

/// Pixels in the rectangle that are clearly coloured (bodies), not grey (background, ground,
/// text).
fn coloured_pixels(rgb: &[u8], width: u32, (x0, y0, x1, y1): (u32, u32, u32, u32)) -> usize {
    (y0..y1)
        .flat_map(|y| (x0..x1).map(move |x| ((y * width + x) * 3) as usize))
        .filter(|&i| {
            let p = &rgb[i..i + 3];
            p.iter().max().unwrap() - p.iter().min().unwrap() > 60
        })
        .count()
}

#[test]
fn an_offscreen_screenshot_shows_every_candidate_in_its_own_tile() {
    let run = testing::run_dir(4, true);
    let shot = run.path().join("shot.png");
    viewer(&["view", ".", "--gen", "0", "--size", "480x360", "--screenshot", "shot.png", "--frames", "10", "--offscreen"], run.path());
    // Kept for a look after the run.
    let _ = std::fs::copy(&shot, Path::new(env!("CARGO_TARGET_TMPDIR")).join("viewer-screenshot.png"));
    let (w, h, rgb) = read_png(&shot);
    assert_eq!((w, h), (480, 360));
    let distinct: std::collections::BTreeSet<&[u8]> = rgb.chunks(3).collect();
    assert!(distinct.len() > 50, "a blank image ({} colours)", distinct.len());
    // A 2 × 2 grid: each tile shows its candidate's pendulum (coloured bodies).
    for (tile, r) in rewardsmith_viewer::render::offscreen_tiles(4, w, h).into_iter().enumerate() {
        let n = coloured_pixels(&rgb, w, (r.x, r.y, r.x + r.w, r.y + r.h));
        assert!(n > 30, "tile {tile} shows no body ({n} coloured pixels)");
    }
    assert!(!run.path().join("gen-00/ranking.json").exists(), "a screenshot ranks nothing");
}

#[test]
fn render_writes_a_gif_with_one_frame_per_kept_step() {
    let run = testing::run_dir(1, false);
    let out = viewer(&["render", "gen-00/cand-00/eval.rollout", "--gif", "cand.gif", "--size", "160x120", "--fps", "25"], run.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let decoder = gif::DecodeOptions::new().read_info(std::fs::File::open(run.path().join("cand.gif")).unwrap()).unwrap();
    assert_eq!((decoder.width(), decoder.height()), (160, 120));
    let mut decoder = decoder;
    let mut frames = Vec::new();
    while let Some(frame) = decoder.read_next_frame().unwrap() {
        frames.push(frame.buffer.to_vec());
    }
    // Every n-th of the episode's frames (reset and STEPS steps), n = 1 / (25 fps × control step).
    let dt = rewardsmith_spec::catalog::resolve("pendulum").unwrap().spec.control_dt();
    let stride = ((1.0 / (25.0 * dt)).round() as usize).max(1);
    assert_eq!(frames.len(), (testing::STEPS + 1).div_ceil(stride), "{stdout}");
    assert!(frames.windows(2).any(|w| w[0] != w[1]), "the pendulum moves between frames");
}

/// A cartpole rollout pushed one way from `seed` (the pole falls: frames differ), written to
/// `dir/name`.
fn falling_cartpole(dir: &Path, name: &str, seed: u64) {
    let loaded = rewardsmith_spec::catalog::resolve("cartpole").unwrap();
    let mut env = rewardsmith_sim::Env::new(rewardsmith_sim::EnvModel::new(&loaded).unwrap(), None).unwrap();
    let recorded = rewardsmith_sim::rollout::record(&mut env, seed, 40, "constant", |_, a| a.fill(1.0)).unwrap();
    std::fs::write(dir.join(name), recorded.to_bytes()).unwrap();
}

/// The RGB pixels of `r` in an image `width` wide, below its top `skip` rows (the time label).
fn tile_pixels(rgb: &[u8], width: u32, r: rewardsmith_viewer::layout::Rect, skip: u32) -> Vec<u8> {
    (r.y + skip..r.y + r.h).flat_map(|y| rgb[((y * width + r.x) * 3) as usize..((y * width + r.x + r.w) * 3) as usize].to_vec()).collect()
}

#[test]
fn a_contact_sheet_shows_the_episode_at_evenly_spaced_times_and_is_the_same_every_time() {
    let dir = tempfile::tempdir().unwrap();
    falling_cartpole(dir.path(), "a.rollout", 1);
    let look = ["--frames", "4", "--columns", "2", "--tile", "160x120"];
    let out = viewer(&[&["sheet", "a.rollout", "--out", "a.png"][..], &look].concat(), dir.path());
    assert!(String::from_utf8_lossy(&out.stdout).contains("wrote a.png (320x240"), "{}", String::from_utf8_lossy(&out.stdout));
    let _ = std::fs::copy(dir.path().join("a.png"), Path::new(env!("CARGO_TARGET_TMPDIR")).join("viewer-sheet.png"));
    let (w, h, rgb) = read_png(&dir.path().join("a.png"));
    assert_eq!((w, h), (320, 240), "2 columns × 2 rows of 160 × 120");
    let options = rewardsmith_viewer::sheet::SheetOptions { frames: 4, columns: 2, tile: (160, 120), episode: 0 };
    let tiles: Vec<Vec<u8>> = (0..4).map(|i| tile_pixels(&rgb, w, options.tile_rect(0, 0, i), 24)).collect();
    for (i, tile) in tiles.iter().enumerate() {
        let r = options.tile_rect(0, 0, i);
        assert!(coloured_pixels(&rgb, w, (r.x, r.y, r.x + r.w, r.y + r.h)) > 30, "tile {i} shows no body");
        for (j, other) in tiles.iter().enumerate().skip(i + 1) {
            assert_ne!(tile, other, "tiles {i} and {j} show the same scene: the pole falls between them");
        }
    }
    // The same file twice: the same bytes (a capture is kept once two in a row agree).
    viewer(&[&["sheet", "a.rollout", "--out", "again.png"][..], &look].concat(), dir.path());
    assert!(std::fs::read(dir.path().join("a.png")).unwrap() == std::fs::read(dir.path().join("again.png")).unwrap(), "rendering is not deterministic");
    // `render --sheet` is the same picture.
    viewer(&[&["render", "a.rollout", "--sheet", "render.png"][..], &look].concat(), dir.path());
    assert!(std::fs::read(dir.path().join("a.png")).unwrap() == std::fs::read(dir.path().join("render.png")).unwrap(), "render --sheet differs");
}

#[test]
fn sheets_drawn_together_share_one_camera() {
    let dir = tempfile::tempdir().unwrap();
    falling_cartpole(dir.path(), "pushed.rollout", 1);
    // The cart left alone: its pole falls where it stands, a narrower scene than the pushed one.
    let loaded = rewardsmith_spec::catalog::resolve("cartpole").unwrap();
    let mut env = rewardsmith_sim::Env::new(rewardsmith_sim::EnvModel::new(&loaded).unwrap(), None).unwrap();
    let still = rewardsmith_sim::rollout::record(&mut env, 1, 40, "zero", |_, a| a.fill(0.0)).unwrap();
    std::fs::write(dir.path().join("still.rollout"), still.to_bytes()).unwrap();
    viewer(&["sheet", "still.rollout=alone.png", "--tile", "96x72"], dir.path());
    viewer(&["sheet", "still.rollout=together.png", "pushed.rollout=pushed.png", "--tile", "96x72"], dir.path());
    // Framed with the pushed cart's run, the still cart is seen from further away.
    assert_ne!(
        std::fs::read(dir.path().join("alone.png")).unwrap(),
        std::fs::read(dir.path().join("together.png")).unwrap(),
        "a sheet drawn with another was framed on its own"
    );
}

#[test]
fn one_run_draws_a_sheet_per_rollout_and_refuses_a_missing_episode() {
    let dir = tempfile::tempdir().unwrap();
    falling_cartpole(dir.path(), "a.rollout", 1);
    falling_cartpole(dir.path(), "b.rollout", 2);
    viewer(&["sheet", "a.rollout=out/a.png", "b.rollout=out/b.png", "--tile", "96x72"], dir.path());
    for name in ["out/a.png", "out/b.png"] {
        let (w, h, rgb) = read_png(&dir.path().join(name));
        assert_eq!((w, h), (288, 144), "{name}: 3 columns × 2 rows of 96 × 72");
        assert!(coloured_pixels(&rgb, w, (0, 0, w, h)) > 100, "{name}: no bodies");
    }
    assert_ne!(std::fs::read(dir.path().join("out/a.png")).unwrap(), std::fs::read(dir.path().join("out/b.png")).unwrap());
    let out = Command::new(env!("CARGO_BIN_EXE_rewardsmith-viewer"))
        .args(["sheet", "a.rollout", "--out", "x.png", "--episode", "99"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no episode 99"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!dir.path().join("x.png").exists());
}
