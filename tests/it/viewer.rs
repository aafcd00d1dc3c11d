//! `rewardsmith view` and `render`, handed to the `rewardsmith-viewer` binary (built beside
//! `rewardsmith` by the workspace's tests): a human-feedback search goes on after a ranking made
//! in the viewer, a windowed screenshot under Xvfb, and a clear error without the binary.

use crate::support::{rewardsmith_with_env, text};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The viewer binary cargo built beside `rewardsmith` (`cargo test --workspace` builds it); None,
/// with a note, where the viewer was left out (`--exclude rewardsmith-viewer`), except in CI
/// (`REWARDSMITH_REQUIRE_DISPLAY_TESTS`), where it must be there.
pub(crate) fn viewer_binary() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_BIN_EXE_rewardsmith")).with_file_name(format!("rewardsmith-viewer{}", std::env::consts::EXE_SUFFIX));
    if path.is_file() {
        return Some(path);
    }
    assert!(std::env::var_os("REWARDSMITH_REQUIRE_DISPLAY_TESTS").is_none(), "{} is missing: `cargo test --workspace` builds it", path.display());
    eprintln!("skipped: {} was not built (the viewer was left out of this test run)", path.display());
    None
}

/// A human-feedback search of one generation of 2 candidates, waiting for its ranking in `dir/h`.
fn waiting_search(dir: &Path) -> std::process::Child {
    let args = [
        "search",
        "--env",
        "pendulum",
        "-k",
        "2",
        "--generations",
        "1",
        "--steps",
        "2048",
        "--eval-episodes",
        "2",
        "--eval-seeds",
        "1",
        "--final-seeds",
        "0",
        "--no-cache",
        "--no-gif",
        "--feedback",
        "human",
        "--out",
        "h",
    ];
    let mut child = Command::new(env!("CARGO_BIN_EXE_rewardsmith")).args(args).current_dir(dir).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    while !dir.join("h/gen-00/rank-request.json").exists() {
        assert!(child.try_wait().unwrap().is_none(), "the search ended without asking for a ranking");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

#[test]
fn a_human_feedback_search_goes_on_after_a_ranking_made_in_the_viewer() {
    if viewer_binary().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut search = waiting_search(dir.path());
    // A person presses 1 (cand-01 first), then Enter: the other one comes last.
    let o = rewardsmith_with_env(dir.path(), &["view", "h", "--offscreen", "--keys", "1,enter"], &[]);
    assert!(o.status.success(), "{}{}", text(&o).0, text(&o).1);
    assert!(text(&o).0.contains("ranked cand-01 > cand-00"), "{}", text(&o).0);
    assert!(search.wait().unwrap().success());
    let ranking: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("h/gen-00/ranking.json")).unwrap()).unwrap();
    assert_eq!(ranking["source"], "viewer");
    let record: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("h/gen-00/generation.json")).unwrap()).unwrap();
    assert_eq!(record["best"], "gen-00/cand-01", "the person's choice leads the generation");

    // Its episode as a GIF, which the report then shows inline.
    let o = rewardsmith_with_env(dir.path(), &["render", "h/gen-00/cand-01/eval.rollout", "--gif", "h/best/episode.gif", "--size", "96x64", "--fps", "5"], &[]);
    assert!(o.status.success(), "{}{}", text(&o).0, text(&o).1);
    assert!(rewardsmith_with_env(dir.path(), &["report", "h"], &[]).status.success());
    let report = std::fs::read_to_string(dir.path().join("h/report.html")).unwrap();
    assert!(report.contains("The best candidate's episode") && report.contains("src=\"data:image/gif;base64,R0lGOD"), "the GIF inline");
}

#[test]
fn a_windowed_screenshot_under_xvfb_shows_the_generation() {
    let Ok(xvfb) = which("xvfb-run") else {
        assert!(std::env::var_os("REWARDSMITH_REQUIRE_DISPLAY_TESTS").is_none(), "xvfb-run is required here (apt-get install xvfb xauth)");
        eprintln!("skipped: no xvfb-run (the CI installs it)");
        return;
    };
    let Some(viewer) = viewer_binary() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut search = waiting_search(dir.path());
    let o = Command::new(xvfb)
        .args(["-a", "-s", "-screen 0 1024x768x24"])
        .arg(&viewer)
        .args(["view", "h", "--size", "400x300", "--screenshot", "window.png", "--frames", "5"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let _ = search.kill();
    let _ = search.wait();
    assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    let png = std::fs::read(dir.path().join("window.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 2000, "a real image ({} bytes)", png.len());
    assert!(!dir.path().join("h/gen-00/ranking.json").exists(), "looking ranks nothing");
}

#[test]
fn render_sheet_writes_a_contact_sheet_of_the_first_episode() {
    if viewer_binary().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    assert!(rewardsmith_with_env(dir.path(), &["rollout", "--env", "cartpole", "--steps", "60", "--out", "c.rollout"], &[]).status.success());
    let o = rewardsmith_with_env(dir.path(), &["render", "c.rollout", "--sheet", "c.png", "--frames", "4", "--columns", "4", "--tile", "80x60"], &[]);
    assert!(o.status.success(), "{}{}", text(&o).0, text(&o).1);
    assert!(text(&o).0.contains("wrote c.png (320x60 pixels"), "{}", text(&o).0);
    let png = std::fs::read(dir.path().join("c.png")).unwrap();
    // The PNG header's IHDR: width and height, big-endian, at bytes 16 and 20.
    assert!(png.starts_with(b"\x89PNG"));
    assert_eq!((u32::from_be_bytes(png[16..20].try_into().unwrap()), u32::from_be_bytes(png[20..24].try_into().unwrap())), (320, 60));
    let o = rewardsmith_with_env(dir.path(), &["render", "c.rollout", "--sheet", "x.png", "--episode", "99"], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("no episode 99"), "{}", text(&o).1);
}

#[test]
fn without_the_viewer_binary_view_says_how_to_build_it() {
    let dir = tempfile::tempdir().unwrap();
    let o = rewardsmith_with_env(dir.path(), &["view", "somewhere"], &[("REWARDSMITH_VIEWER", "/nonexistent/rewardsmith-viewer")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("cargo build --release -p rewardsmith-viewer"), "{}", text(&o).1);
}

/// The first `name` on the PATH.
fn which(name: &str) -> Result<PathBuf, ()> {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).map(|d| d.join(name)).find(|p| p.is_file()).ok_or(())
}
