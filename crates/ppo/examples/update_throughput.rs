//! PPO update throughput on synthetic data, of the native CPU backend or (built with `--features
//! torch`) the libtorch one on the CPU or a GPU: the rewardsmith half of
//! `benches/ppo_update_reference.py`, which runs PyTorch on the same networks, batch and epochs.
//!
//! ```sh
//! cargo run --release -p rewardsmith-ppo --example update_throughput -- \
//!     --obs 16 --act 4 --hidden 64,64 --batch 16384 --minibatch 1024 --epochs 10 --repeats 5 [--json] \
//!     [--backend native|torch] [--device cpu|cuda|cuda:N]
//! ```
//!
//! Samples per second = batch × epochs / seconds of one whole update (shuffling, gathering
//! minibatches, forward, loss, backward, clipping, Adam), best of the repeats after one warm-up.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rewardsmith_ppo::adam::AdamConfig;
use rewardsmith_ppo::agent::Agent;
use rewardsmith_ppo::backend::Backend;
use rewardsmith_ppo::backend::CpuBackend;
use rewardsmith_ppo::config::{BackendKind, Device, PpoConfig};
use rewardsmith_ppo::train::{Rollout, update};
use std::time::Instant;

struct Args {
    obs: usize,
    act: usize,
    hidden: Vec<usize>,
    batch: usize,
    minibatch: usize,
    epochs: usize,
    repeats: usize,
    json: bool,
    backend: BackendKind,
    device: Device,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        obs: 16,
        act: 4,
        hidden: vec![64, 64],
        batch: 16384,
        minibatch: 1024,
        epochs: 10,
        repeats: 5,
        json: false,
        backend: BackendKind::Native,
        device: Device::Cpu,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--json" {
            a.json = true;
            continue;
        }
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let n = || value.parse::<usize>().map_err(|_| format!("{flag}: not a number: {value}"));
        match flag.as_str() {
            "--obs" => a.obs = n()?,
            "--act" => a.act = n()?,
            "--hidden" => a.hidden = value.split(',').map(|h| h.parse().map_err(|_| format!("--hidden: {value}"))).collect::<Result<_, _>>()?,
            "--batch" => a.batch = n()?,
            "--minibatch" => a.minibatch = n()?,
            "--epochs" => a.epochs = n()?,
            "--repeats" => a.repeats = n()?,
            "--backend" => a.backend = value.parse()?,
            "--device" => a.device = value.parse()?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(a)
}

fn main() -> Result<(), String> {
    let a = parse()?;
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut uniform = |n: usize, scale: f32| -> Vec<f32> { (0..n).map(|_| rng.random_range(-scale..=scale)).collect() };
    let mut rollout = Rollout::new(a.batch, a.obs, a.act);
    rollout.obs = uniform(a.batch * a.obs, 2.0);
    rollout.actions = uniform(a.batch * a.act, 1.5);
    rollout.logprobs = uniform(a.batch, 1.0).iter().map(|x| x - 4.0).collect();
    rollout.values = uniform(a.batch, 1.0);
    rollout.advantages = uniform(a.batch, 1.0);
    rollout.returns = rollout.values.iter().zip(&rollout.advantages).map(|(v, a)| v + a).collect();
    let cfg = PpoConfig { num_minibatches: a.batch / a.minibatch, update_epochs: a.epochs, hidden: a.hidden.clone(), ..PpoConfig::default() };
    let agent = Agent::new(a.obs, a.act, &a.hidden, 0.0, 1);
    let (best, device) = match a.backend {
        BackendKind::Native => (time(&mut CpuBackend::new(agent, AdamConfig::default()), &rollout, &cfg, a.repeats, &mut rng), "cpu (native)".to_owned()),
        #[cfg(feature = "torch")]
        BackendKind::Torch => {
            let mut backend = rewardsmith_ppo::torch::TorchBackend::new(&agent, AdamConfig::default(), a.device).map_err(|e| e.to_string())?;
            (time(&mut backend, &rollout, &cfg, a.repeats, &mut rng), rewardsmith_ppo::torch::describe(a.device))
        }
        #[cfg(not(feature = "torch"))]
        BackendKind::Torch => return Err(rewardsmith_ppo::train::NO_TORCH.to_owned()),
    };
    let samples_per_s = (a.batch * a.epochs) as f64 / best;
    let ms_per_minibatch = best * 1e3 / (cfg.num_minibatches * a.epochs) as f64;
    if a.json {
        println!("{{\"samples_per_s\": {samples_per_s:.1}, \"ms_per_minibatch\": {ms_per_minibatch:.4}, \"device\": {device:?}}}");
    } else {
        println!("{samples_per_s:.0} samples/s, {ms_per_minibatch:.3} ms per minibatch of {} (best of {}) on {device}", a.minibatch, a.repeats);
    }
    Ok(())
}

/// Seconds of the fastest of `repeats` whole updates, after one warm-up. An update's last step
/// reads the weights back (`save`), so a GPU's queued work is inside the time.
fn time<B: Backend>(backend: &mut B, rollout: &Rollout, cfg: &PpoConfig, repeats: usize, rng: &mut ChaCha8Rng) -> f64 {
    let mut best = f64::INFINITY;
    let rms = rewardsmith_ppo::normalize::RunningMeanStd::new(rollout.obs_dim);
    for repeat in 0..=repeats {
        let start = Instant::now();
        let stats = update(backend, rollout, cfg, cfg.learning_rate, rng);
        std::hint::black_box((stats, backend.save(&rms)));
        if repeat > 0 {
            best = best.min(start.elapsed().as_secs_f64());
        }
    }
    best
}
