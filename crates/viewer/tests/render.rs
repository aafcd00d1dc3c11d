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
