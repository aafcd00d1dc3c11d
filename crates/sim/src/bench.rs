//! Throughput measurements behind `rewardsmith bench` (a benchmark, never a timed test).

use crate::SimError;
use crate::env::{Env, EnvModel};
use crate::vec_env::VecEnv;
use rewardsmith_script::RewardScript;
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;

/// How long and how wide to measure.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// Action steps per single-env measurement. Default 20 000.
    pub steps: usize,
    /// Repeats of each measurement; the fastest is kept (the least disturbed by other load).
    /// Default 5.
    pub repeats: usize,
    /// Instances in the VecEnv measurements. Default 64.
    pub num_envs: usize,
    /// Steps per instance in the VecEnv measurements. Default 200.
    pub vec_steps: usize,
}

impl Default for BenchConfig {
    fn default() -> Self {
        Self { steps: 20_000, repeats: 5, num_envs: 64, vec_steps: 200 }
    }
}

/// Figures for one environment. Times are wall-clock on the machine that ran the benchmark.
#[derive(Debug, Clone, Serialize)]
pub struct EnvBench {
    /// Environment id.
    pub id: String,
    /// µs per action step of one env, including physics, state, observation and reward script.
    pub us_per_step: f64,
    /// µs per action step without a reward script.
    pub us_per_step_no_reward: f64,
    /// µs of wall time per simulated second (`us_per_step` / control period).
    pub us_per_sim_second: f64,
    /// Share of the step spent in the reward script: (with − without) / with.
    pub reward_share: f64,
    /// VecEnv env-steps per second, lock-step layout, 1 thread.
    pub vecenv_sps_1_thread: f64,
    /// VecEnv env-steps per second, lock-step layout, 2 threads.
    pub vecenv_sps_2_threads: f64,
    /// 2-thread over 1-thread throughput, lock-step layout.
    pub vecenv_speedup: f64,
    /// VecEnv env-steps per second, each worker running its instances for all steps, 1 thread.
    pub per_world_sps_1_thread: f64,
    /// The same, 2 threads.
    pub per_world_sps_2_threads: f64,
}

/// A deterministic pseudo-random action in [-1, 1] for instance `i`, step `t`, component `k`:
/// cheap enough not to weigh on the measurement.
fn action_value(i: usize, t: usize, k: usize) -> f32 {
    let x = crate::math::derive_seed(((i as u64) << 40) ^ ((t as u64) << 8) ^ k as u64, 7);
    (x >> 40) as f32 / (1u64 << 23) as f32 - 1.0
}

fn single_env_us(model: &Arc<EnvModel>, reward: Option<RewardScript>, cfg: &BenchConfig) -> Result<f64, SimError> {
    let mut env = Env::new(model.clone(), reward)?;
    let mut action = vec![0.0f32; model.action_dim()];
    let mut best = f64::INFINITY;
    for _ in 0..cfg.repeats {
        let mut episode = 0;
        env.reset(episode)?;
        let start = Instant::now();
        for t in 0..cfg.steps {
            for (k, a) in action.iter_mut().enumerate() {
                *a = action_value(0, t, k);
            }
            let s = env.step(&action)?;
            if s.terminated || s.truncated {
                episode += 1;
                env.reset(episode)?;
            }
        }
        best = best.min(start.elapsed().as_secs_f64() * 1e6 / cfg.steps as f64);
    }
    Ok(best)
}

fn vec_sps(model: &Arc<EnvModel>, reward: &Option<RewardScript>, cfg: &BenchConfig, threads: usize, lockstep: bool) -> Result<f64, SimError> {
    let mut venv = VecEnv::new(model, reward.clone(), cfg.num_envs, threads, 0)?;
    let (n, a) = (venv.num_envs(), venv.action_dim());
    let mut actions = vec![0.0f32; n * a];
    let mut best = 0.0f64;
    for _ in 0..cfg.repeats {
        venv.reset()?;
        let start = Instant::now();
        if lockstep {
            for t in 0..cfg.vec_steps {
                for (j, x) in actions.iter_mut().enumerate() {
                    *x = action_value(j / a, t, j % a);
                }
                venv.step(&actions)?;
            }
        } else {
            venv.run(cfg.vec_steps, &|i, t, _obs, action: &mut [f32]| {
                for (k, x) in action.iter_mut().enumerate() {
                    *x = action_value(i, t, k);
                }
            })?;
        }
        best = best.max((n * cfg.vec_steps) as f64 / start.elapsed().as_secs_f64());
    }
    Ok(best)
}

/// Measures one environment with the given reward script.
pub fn bench_env(model: &Arc<EnvModel>, reward: Option<RewardScript>, cfg: &BenchConfig) -> Result<EnvBench, SimError> {
    let with = single_env_us(model, reward.clone(), cfg)?;
    let without = single_env_us(model, None, cfg)?;
    let sps1 = vec_sps(model, &reward, cfg, 1, true)?;
    let sps2 = vec_sps(model, &reward, cfg, 2, true)?;
    let world1 = vec_sps(model, &reward, cfg, 1, false)?;
    let world2 = vec_sps(model, &reward, cfg, 2, false)?;
    Ok(EnvBench {
        id: model.spec().id.clone(),
        us_per_step: with,
        us_per_step_no_reward: without,
        us_per_sim_second: with / model.spec().control_dt(),
        reward_share: ((with - without) / with).max(0.0),
        vecenv_sps_1_thread: sps1,
        vecenv_sps_2_threads: sps2,
        vecenv_speedup: sps2 / sps1,
        per_world_sps_1_thread: world1,
        per_world_sps_2_threads: world2,
    })
}
