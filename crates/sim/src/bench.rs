//! Throughput measurements behind `rewardsmith bench` (a benchmark, never a timed test).

use crate::SimError;
use crate::env::{Env, EnvModel};
use crate::vec_env::VecEnv;
use rewardsmith_script::{RewardScript, RewardTerms};
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;

/// How long and how wide to measure.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// Action steps per single-env measurement. Default 20 000.
    pub steps: usize,
    /// Repeats of each measurement; the median is reported (the statistic the reference
    /// benchmarks use for MuJoCo and PyTorch too). Default 5.
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

/// Figures for one environment. Times are wall-clock on the machine that ran the benchmark,
/// each the median of the repeats.
#[derive(Debug, Clone, Serialize)]
pub struct EnvBench {
    /// Environment id.
    pub id: String,
    /// µs per action step of one env, including physics, state, observation, termination and
    /// fitness expressions and the reward script.
    pub us_per_step: f64,
    /// µs per action step without a reward script.
    pub us_per_step_no_reward: f64,
    /// µs per physics step, physics alone (actuators and rapier's step; no state, observation,
    /// expression or reward): the figure to set beside another engine's step.
    pub us_per_physics_step: f64,
    /// Physics steps per action (`[physics] substeps`).
    pub physics_steps_per_action: u32,
    /// µs of wall time per simulated second (`us_per_step` / control period).
    pub us_per_sim_second: f64,
    /// µs of physics alone per simulated second (`us_per_physics_step` / physics timestep).
    pub us_per_sim_second_physics: f64,
    /// µs per call of the reward script, timed alone on states recorded from a run.
    pub us_per_reward_call: f64,
    /// Share of the step spent in the reward script: `us_per_reward_call` / `us_per_step`.
    pub reward_share: f64,
    /// VecEnv env-steps per second, lock-step layout, 1 thread.
    pub vecenv_sps_1_thread: f64,
    /// VecEnv env-steps per second, lock-step layout, 2 threads.
    pub vecenv_sps_2_threads: f64,
    /// 2-thread over 1-thread throughput, lock-step layout: the median of the repeats' ratios.
    pub vecenv_speedup: f64,
    /// VecEnv env-steps per second, each worker running its instances for all steps, 1 thread.
    pub per_world_sps_1_thread: f64,
    /// The same, 2 threads.
    pub per_world_sps_2_threads: f64,
    /// 2-thread over 1-thread throughput, per-world layout: the median of the repeats' ratios.
    pub per_world_speedup: f64,
}

/// A deterministic pseudo-random action in [-1, 1] for instance `i`, step `t`, component `k`:
/// cheap enough not to weigh on the measurement.
fn action_value(i: usize, t: usize, k: usize) -> f32 {
    let x = crate::math::derive_seed(((i as u64) << 40) ^ ((t as u64) << 8) ^ k as u64, 7);
    (x >> 40) as f32 / (1u64 << 23) as f32 - 1.0
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

/// What one single-env measurement runs per step.
#[derive(Clone, Copy, PartialEq)]
enum Part {
    /// `Env::step`: everything.
    Step,
    /// The physics of the step alone.
    Physics,
}

/// Median µs per step of one env over `cfg.steps` steps, `cfg.repeats` times.
fn single_env_us(model: &Arc<EnvModel>, reward: Option<RewardScript>, cfg: &BenchConfig, part: Part) -> Result<f64, SimError> {
    let mut env = Env::new(model.clone(), reward)?;
    let mut action = vec![0.0f32; model.action_dim()];
    let mut times = Vec::with_capacity(cfg.repeats);
    let episode_length = model.spec().physics.episode_length;
    for _ in 0..cfg.repeats {
        let mut episode = 0;
        env.reset(episode)?;
        let start = Instant::now();
        for t in 0..cfg.steps {
            for (k, a) in action.iter_mut().enumerate() {
                *a = action_value(0, t, k);
            }
            let done = match part {
                Part::Step => {
                    let s = env.step(&action)?;
                    s.terminated || s.truncated
                }
                // Physics alone never terminates: episodes end at the time limit.
                Part::Physics => {
                    env.advance_physics(&action);
                    (t + 1) % episode_length as usize == 0
                }
            };
            if done {
                episode += 1;
                env.reset(episode)?;
            }
        }
        times.push(start.elapsed().as_secs_f64() * 1e6 / cfg.steps as f64);
    }
    Ok(median(times))
}

/// Median µs per call of `reward` on the states of a `cfg.steps`-step run.
fn reward_call_us(model: &Arc<EnvModel>, reward: &RewardScript, cfg: &BenchConfig) -> Result<f64, SimError> {
    let mut env = Env::new(model.clone(), None)?;
    let mut action = vec![0.0f32; model.action_dim()];
    let mut states = Vec::with_capacity(cfg.steps);
    let mut episode = 0;
    env.reset(episode)?;
    for t in 0..cfg.steps {
        for (k, a) in action.iter_mut().enumerate() {
            *a = action_value(0, t, k);
        }
        let s = env.step(&action)?;
        let done = s.terminated || s.truncated;
        states.push(env.state().clone());
        if done {
            episode += 1;
            env.reset(episode)?;
        }
    }
    let mut terms = RewardTerms::default();
    let mut times = Vec::with_capacity(cfg.repeats);
    for _ in 0..cfg.repeats {
        let start = Instant::now();
        for state in &states {
            reward.call(state, &mut terms)?;
            std::hint::black_box(terms.total());
        }
        times.push(start.elapsed().as_secs_f64() * 1e6 / states.len().max(1) as f64);
    }
    Ok(median(times))
}

/// VecEnv throughput on 1 and on 2 threads: median env-steps per second of each, and the median
/// of the repeats' 2-thread / 1-thread ratios. The two run alternately, each repeat one after the
/// other, so that a shared machine's slow spells weigh on both sides of a ratio alike.
fn vec_scaling(model: &Arc<EnvModel>, reward: &Option<RewardScript>, cfg: &BenchConfig, lockstep: bool) -> Result<(f64, f64, f64), SimError> {
    let mut one = VecEnv::new(model, reward.clone(), cfg.num_envs, 1, 0)?;
    let mut two = VecEnv::new(model, reward.clone(), cfg.num_envs, 2, 0)?;
    let (mut rates1, mut rates2, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..cfg.repeats {
        let r1 = vec_sps(&mut one, cfg, lockstep)?;
        let r2 = vec_sps(&mut two, cfg, lockstep)?;
        rates1.push(r1);
        rates2.push(r2);
        ratios.push(r2 / r1);
    }
    Ok((median(rates1), median(rates2), median(ratios)))
}

/// Env-steps per second of one run of `cfg.vec_steps` steps from a reset.
fn vec_sps(venv: &mut VecEnv, cfg: &BenchConfig, lockstep: bool) -> Result<f64, SimError> {
    let (n, a) = (venv.num_envs(), venv.action_dim());
    let mut actions = vec![0.0f32; n * a];
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
    Ok((n * cfg.vec_steps) as f64 / start.elapsed().as_secs_f64())
}

/// Measures one environment with the given reward script (none: the reward columns are 0).
pub fn bench_env(model: &Arc<EnvModel>, reward: Option<RewardScript>, cfg: &BenchConfig) -> Result<EnvBench, SimError> {
    let with = single_env_us(model, reward.clone(), cfg, Part::Step)?;
    let without = single_env_us(model, None, cfg, Part::Step)?;
    let substeps = model.spec().physics.substeps;
    let physics = single_env_us(model, None, cfg, Part::Physics)? / f64::from(substeps);
    let reward_us = match &reward {
        Some(r) => reward_call_us(model, r, cfg)?,
        None => 0.0,
    };
    let (sps1, sps2, speedup) = vec_scaling(model, &reward, cfg, true)?;
    let (world1, world2, world_speedup) = vec_scaling(model, &reward, cfg, false)?;
    Ok(EnvBench {
        id: model.spec().id.clone(),
        us_per_step: with,
        us_per_step_no_reward: without,
        us_per_physics_step: physics,
        physics_steps_per_action: substeps,
        us_per_sim_second: with / model.spec().control_dt(),
        us_per_sim_second_physics: physics / model.spec().physics.timestep,
        us_per_reward_call: reward_us,
        reward_share: reward_us / with,
        vecenv_sps_1_thread: sps1,
        vecenv_sps_2_threads: sps2,
        vecenv_speedup: speedup,
        per_world_sps_1_thread: world1,
        per_world_sps_2_threads: world2,
        per_world_speedup: world_speedup,
    })
}
