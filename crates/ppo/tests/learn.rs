//! PPO end to end on the built-in environments: it learns, and a seed fixes the result.

use rewardsmith_ppo::agent::Agent;
use rewardsmith_ppo::config::PpoConfig;
use rewardsmith_ppo::eval::evaluate;
use rewardsmith_ppo::train::{Metrics, train};
use rewardsmith_sim::EnvModel;
use rewardsmith_spec::catalog;
use std::sync::Arc;

fn setup(id: &str) -> (Arc<EnvModel>, rewardsmith_script::RewardScript) {
    let model = EnvModel::new(&catalog::resolve(id).unwrap()).unwrap();
    let (name, source) = catalog::reward_script(id, "human.rhai").unwrap();
    let reward = model.compile_reward(name, source).unwrap();
    (model, reward)
}

fn run(id: &str, cfg: &PpoConfig) -> (Vec<Metrics>, Agent) {
    let (model, reward) = setup(id);
    let mut log = Vec::new();
    let agent = train(&model, Some(reward), cfg, |m, _| {
        log.push(m.clone());
        true
    })
    .unwrap();
    (log, agent)
}

/// A balanced pole survives the whole episode: fitness 500 (steps). The threshold, 475, is 95% of
/// that, averaged over 10 evaluation episodes of the deterministic policy. With cartpole.toml's
/// `[ppo]` table, 50k steps solved seeds 1-5 with fitness 500 in every episode (BENCHMARKS.md).
#[test]
fn ppo_solves_cartpole_balance_with_the_human_reward() {
    let (model, _) = setup("cartpole");
    let tuned = PpoConfig::from_layers([("cartpole [ppo]", &model.spec().ppo)]).unwrap();
    let cfg = PpoConfig { total_steps: 50_000, seed: 1, ..tuned };
    let (log, agent) = run("cartpole", &cfg);
    let scores = evaluate(&model, &agent, 10, 1000, cfg.obs_clip).unwrap();
    let mean = scores.iter().sum::<f64>() / scores.len() as f64;
    assert!(mean >= 475.0, "mean evaluation fitness {mean} < 475: {scores:?}");
    let first = log.iter().find_map(|m| m.fitness).unwrap();
    assert!(first < 100.0, "an untrained policy should not balance already (first fitness {first})");
}

fn bits(log: &[Metrics], agent: &Agent) -> (Vec<String>, Vec<u32>) {
    // Everything but the wall-clock figure.
    let lines = log.iter().map(|m| format!("{:?}", Metrics { sps: 0.0, ..m.clone() })).collect();
    let weights = agent.actor.params.iter().chain(&agent.log_std).chain(&agent.critic.params).map(|w| w.to_bits()).collect();
    (lines, weights)
}

#[test]
fn the_same_seed_gives_identical_metrics_and_weights() {
    let cfg = PpoConfig { total_steps: 4096, num_envs: 8, num_steps: 64, seed: 7, ..PpoConfig::default() };
    let (log_a, agent_a) = run("pendulum", &cfg);
    let (log_b, agent_b) = run("pendulum", &cfg);
    assert_eq!(bits(&log_a, &agent_a), bits(&log_b, &agent_b));
    let (log_c, agent_c) = run("pendulum", &PpoConfig { seed: 8, ..cfg });
    assert_ne!(bits(&log_a, &agent_a).1, bits(&log_c, &agent_c).1, "another seed, other weights");
}

#[test]
fn one_and_two_threads_train_identically() {
    let cfg = PpoConfig { total_steps: 4096, num_envs: 8, num_steps: 64, seed: 3, ..PpoConfig::default() };
    let (log_1, agent_1) = run("cartpole", &PpoConfig { threads: 1, ..cfg.clone() });
    let (log_2, agent_2) = run("cartpole", &PpoConfig { threads: 2, ..cfg });
    assert_eq!(bits(&log_1, &agent_1), bits(&log_2, &agent_2));
}

/// The torch backend (feature `torch`, CPU libtorch in CI): the same loop, other arithmetic.
#[cfg(feature = "torch")]
mod torch {
    use super::*;
    use rewardsmith_ppo::adam::AdamConfig;
    use rewardsmith_ppo::config::{BackendKind, Device};
    use rewardsmith_ppo::torch::TorchBackend;

    fn torch_cfg(cfg: PpoConfig) -> PpoConfig {
        PpoConfig { backend: BackendKind::Torch, device: Device::Cpu, ..cfg }
    }

    /// The native test's threshold and budget, on libtorch.
    #[test]
    fn torch_ppo_solves_cartpole_balance_with_the_human_reward() {
        let (model, _) = setup("cartpole");
        let tuned = PpoConfig::from_layers([("cartpole [ppo]", &model.spec().ppo)]).unwrap();
        let cfg = torch_cfg(PpoConfig { total_steps: 50_000, seed: 1, ..tuned });
        let (_, agent) = run("cartpole", &cfg);
        let scores = evaluate(&model, &agent, 10, 1000, cfg.obs_clip).unwrap();
        let mean = scores.iter().sum::<f64>() / scores.len() as f64;
        assert!(mean >= 475.0, "mean evaluation fitness {mean} < 475: {scores:?}");
    }

    #[test]
    fn torch_on_the_cpu_gives_identical_metrics_and_weights_for_a_seed() {
        let cfg = torch_cfg(PpoConfig { total_steps: 4096, num_envs: 8, num_steps: 64, seed: 7, ..PpoConfig::default() });
        let (log_a, agent_a) = run("pendulum", &cfg);
        let (log_b, agent_b) = run("pendulum", &cfg);
        assert_eq!(bits(&log_a, &agent_a), bits(&log_b, &agent_b));
    }

    /// Deterministic actions of `agent` on the observations of a random-action episode, native
    /// and torch, after a round trip of the weights through `policy.safetensors`' bytes.
    fn actions_after_a_file_round_trip(agent: &Agent) -> (Vec<f32>, Vec<f32>) {
        let bytes = agent.to_safetensors(&Default::default()).unwrap();
        let (loaded, _) = Agent::from_safetensors(&bytes).unwrap();
        let mut env = rewardsmith_sim::Env::new(setup("pendulum").0, None).unwrap();
        let mut obs = env.reset(5).unwrap().to_vec();
        let mut all_obs = Vec::new();
        for t in 0..50 {
            all_obs.extend_from_slice(&obs);
            obs = env.step(&[if t % 7 < 3 { 0.8 } else { -0.6 }]).unwrap().obs.to_vec();
        }
        let mut torch = TorchBackend::new(&loaded, AdamConfig::default(), Device::Cpu).unwrap();
        (loaded.act_deterministic(&all_obs, 10.0), torch.act_deterministic(&loaded.obs_rms, &all_obs, 10.0))
    }

    fn rel_err(a: &[f32], b: &[f32]) -> f64 {
        let d: f64 = a.iter().zip(b).map(|(x, y)| f64::from(x - y).powi(2)).sum();
        let n: f64 = b.iter().map(|y| f64::from(*y).powi(2)).sum();
        (d / n).sqrt()
    }

    #[test]
    fn torch_trained_weights_act_the_same_in_the_native_backend_and_the_other_way_round() {
        let cfg = PpoConfig { total_steps: 8192, num_envs: 8, num_steps: 64, seed: 2, ..PpoConfig::default() };
        for backend in [BackendKind::Torch, BackendKind::Native] {
            let (_, agent) = run("pendulum", &PpoConfig { backend, ..cfg.clone() });
            let (native, torch) = actions_after_a_file_round_trip(&agent);
            assert!(native.iter().any(|a| a.abs() > 1e-3), "{backend}: the trained policy should act: {native:?}");
            let e = rel_err(&torch, &native);
            assert!(e <= 1e-5, "{backend}-trained weights: relative error {e:e} between the backends' actions");
        }
    }
}
