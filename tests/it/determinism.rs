//! Determinism: a seed fixes everything, whatever the thread count or the episodes before.

use rewardsmith_sim::{Env, EnvModel, VecEnv};
use rewardsmith_spec::catalog;
use std::sync::Arc;

fn model(id: &str) -> Arc<EnvModel> {
    EnvModel::new(&catalog::resolve(id).unwrap()).unwrap()
}

fn human_reward(model: &EnvModel) -> rewardsmith_script::RewardScript {
    let (name, source) = catalog::reward_script(&model.spec().id, "human.rhai").unwrap();
    model.compile_reward(name, source).unwrap()
}

/// A deterministic action sequence that pushes the env around.
fn action(t: usize, i: usize, k: usize) -> f32 {
    (((t * 7 + i * 13 + k * 3) % 17) as f32 / 8.0) - 1.0
}

/// Everything observable from a VecEnv run, as bits.
fn vec_trace(id: &str, threads: usize) -> Vec<u64> {
    let model = model(id);
    let reward = human_reward(&model);
    let mut venv = VecEnv::new(&model, Some(reward), 7, threads, 1234).unwrap();
    let mut trace: Vec<u64> = venv.reset().unwrap().iter().map(|x| u64::from(x.to_bits())).collect();
    let a = venv.action_dim();
    for t in 0..250 {
        let actions: Vec<f32> = (0..7 * a).map(|j| action(t, j / a, j % a)).collect();
        let s = venv.step(&actions).unwrap();
        trace.extend(s.obs.iter().map(|x| u64::from(x.to_bits())));
        trace.extend(s.rewards.iter().chain(s.fitness).chain(s.terms).map(|x| x.to_bits()));
        trace.extend(s.terminated.iter().zip(s.truncated).map(|(a, b)| u64::from(*a) * 2 + u64::from(*b)));
    }
    trace
}

#[test]
fn vecenv_is_bit_identical_with_one_and_two_threads() {
    for id in catalog::ids() {
        let one = vec_trace(id, 1);
        let two = vec_trace(id, 2);
        assert_eq!(one.len(), two.len());
        let first = one.iter().zip(&two).position(|(a, b)| a != b);
        assert_eq!(first, None, "{id}: 1 and 2 threads differ at trace index {first:?}");
    }
}

#[test]
fn vecenv_auto_resets_finished_episodes() {
    // Cartpole under a constant push falls within 100 steps: every instance must have restarted.
    let model = model("cartpole");
    let mut venv = VecEnv::new(&model, None, 4, 1, 5).unwrap();
    venv.reset().unwrap();
    let mut ended = [false; 4];
    for _ in 0..100 {
        let s = venv.step(&[1.0; 4]).unwrap();
        for (i, (te, tr)) in s.terminated.iter().zip(s.truncated).enumerate() {
            if *te || *tr {
                ended[i] = true;
                // The returned observation is the new episode's first: the pole is near upright.
                assert!(s.obs[i * 4 + 2].abs() <= 0.05, "instance {i} was not reset: {:?}", &s.obs[i * 4..i * 4 + 4]);
                assert!(s.final_obs[i * 4 + 2].abs() > 0.2, "final_obs holds the fallen pole");
            }
        }
    }
    assert_eq!(ended, [true; 4]);
}

fn episode_trace(env: &mut Env, seed: u64) -> Vec<u32> {
    let mut trace: Vec<u32> = env.reset(seed).unwrap().iter().map(|x| x.to_bits()).collect();
    for t in 0..60 {
        let a: Vec<f32> = (0..env.model().action_dim()).map(|k| action(t, 0, k)).collect();
        let s = env.step(&a).unwrap();
        trace.extend(s.obs.iter().map(|x| x.to_bits()));
        if s.terminated || s.truncated {
            break;
        }
    }
    trace
}

#[test]
fn same_seed_gives_the_same_episode_whatever_ran_before() {
    for id in catalog::ids() {
        let model = model(id);
        let mut fresh = Env::new(model.clone(), None).unwrap();
        let expected = episode_trace(&mut fresh, 77);
        let mut used = Env::new(model.clone(), None).unwrap();
        episode_trace(&mut used, 5);
        episode_trace(&mut used, 6);
        assert_eq!(episode_trace(&mut used, 77), expected, "{id}: an episode depends on the ones before it");
        assert_ne!(episode_trace(&mut used, 78), expected, "{id}: different seeds give different starts");
    }
}
