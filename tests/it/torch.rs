//! `--backend` and `--device` on the command line: the torch backend where the binary has it
//! (CI builds it against CPU libtorch), a clear refusal where it does not, and never a training
//! that quietly runs somewhere other than asked.

use crate::support::{rewardsmith, text};

/// A CUDA device libtorch cannot use (none in CI; past the last one on a GPU machine) stops
/// `train` before any work, with the reason; so does the native backend asked for CUDA.
#[test]
fn torch_cuda_that_cannot_be_had_is_an_error_not_a_cpu_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = rewardsmith(&["train", "--env", "pendulum", "--steps", "512", "--device", "cuda:63", "--out", out.to_str().unwrap()]);
    let stderr = text(&o).1;
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    let expected = if cfg!(feature = "torch") { "cuda:63 was asked for, but" } else { "the torch backend is not in this binary" };
    assert!(stderr.contains(expected), "{stderr}");
    assert!(!out.join("metrics.jsonl").exists(), "nothing was trained");
    let o = rewardsmith(&["train", "--env", "pendulum", "--backend", "native", "--device", "cuda", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("`device` cuda:0 needs the torch backend"), "{}", text(&o).1);
    let o = rewardsmith(&["search", "--env", "pendulum", "--device", "gpu", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "a device clap cannot read is a usage error: {}", text(&o).1);
}

/// `train --backend torch` on the CPU writes the same files as the native backend, says where it
/// ran, and its policy evaluates in the native backend (and in torch, to the same fitness).
#[cfg(feature = "torch")]
#[test]
fn torch_training_on_the_cpu_writes_a_policy_that_both_backends_evaluate_alike() {
    use crate::support::TINY_PPO;
    use std::fs;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ppo.toml");
    fs::write(&config, TINY_PPO).unwrap();
    let out = dir.path().join("run");
    let o = rewardsmith(&[
        "train",
        "--env",
        "pendulum",
        "--steps",
        "1024",
        "--seed",
        "4",
        "--config",
        config.to_str().unwrap(),
        "--backend",
        "torch",
        "--out",
        out.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stdout}{stderr}");
    assert!(stderr.contains("training pendulum on the torch backend on cpu (libtorch"), "{stderr}");
    let config: toml::Table = toml::from_str(&fs::read_to_string(out.join("config.toml")).unwrap()).unwrap();
    assert_eq!(config["backend"].as_str(), Some("torch"));
    assert!(config.get("device").is_none(), "the default device (cpu) is not written out: {config}");
    let summary: serde_json::Value = serde_json::from_str(&fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert!(summary["compute"].as_str().unwrap().starts_with("torch backend on cpu"), "{summary}");
    let fitness = |extra: &[&str]| {
        let o = rewardsmith(&[&["eval", out.to_str().unwrap(), "--episodes", "3"], extra].concat());
        let (stdout, stderr) = text(&o);
        assert!(o.status.success(), "{stdout}{stderr}");
        stdout.lines().last().unwrap().split_whitespace().nth(1).unwrap().parse::<f64>().unwrap()
    };
    let (native, torch) = (fitness(&[]), fitness(&["--backend", "torch"]));
    assert!((native - torch).abs() <= 1e-4 * native.abs().max(1.0), "native {native} vs torch {torch}");
}
