//! `VecEnv`: many instances of one environment stepped on a thread pool, with auto-reset.

use crate::SimError;
use crate::env::{Env, EnvModel, episode_seed};
use crate::math::derive_seed;
use rayon::prelude::*;
use rewardsmith_script::{RewardScript, ScriptError, ScriptErrorKind};
use std::sync::Arc;

/// Stack of each worker thread. Rhai walks scripts recursively: at the sandbox's call- and
/// expression-depth limits an unoptimised build overflowed rayon's default 2 MiB (seen in review).
const WORKER_STACK_BYTES: usize = 16 << 20;

/// One instance and what its last step produced.
struct Slot {
    env: Env,
    /// Seed of this instance's episode stream.
    seed: u64,
    /// Episodes started so far (the next reset uses `episode_seed(seed, episodes)`).
    episodes: u64,
    reward: f64,
    fitness: f64,
    terminated: bool,
    truncated: bool,
    termination: Option<usize>,
    terms: Vec<f64>,
    /// Observation that ended the episode, before the auto-reset.
    final_obs: Vec<f32>,
    error: Option<SimError>,
}

impl Slot {
    fn reset(&mut self) -> Result<(), SimError> {
        self.env.reset(episode_seed(self.seed, self.episodes))?;
        self.episodes += 1;
        Ok(())
    }

    fn step(&mut self, action: &[f32]) {
        let result = self.env.step(action).map(|s| {
            self.reward = s.reward;
            self.fitness = s.fitness;
            self.terminated = s.terminated;
            self.truncated = s.truncated;
            self.termination = s.termination;
            self.terms.clear();
            self.terms.extend_from_slice(&s.terms.values);
            if s.terminated || s.truncated {
                self.final_obs.clear();
                self.final_obs.extend_from_slice(s.obs);
            }
            s.terminated || s.truncated
        });
        self.error = match result {
            Ok(true) => self.reset().err(),
            Ok(false) => None,
            Err(e) => Some(e),
        };
    }
}

/// Instances per worker chunk: contiguous, as even as `num_envs` allows.
fn chunk_len(num_envs: usize, threads: usize) -> usize {
    num_envs.div_ceil(threads.max(1)).max(1)
}

/// What a [`VecEnv::step`] produced, one entry per instance (flattened row-major where wider).
#[derive(Debug)]
pub struct VecStep<'a> {
    /// Observations after the step, `num_envs × obs_dim`; a finished instance already shows the
    /// first observation of its next episode (see `final_obs`).
    pub obs: &'a [f32],
    /// Rewards.
    pub rewards: &'a [f64],
    /// Per-step fitness values.
    pub fitness: &'a [f64],
    /// Terminated flags.
    pub terminated: &'a [bool],
    /// Truncated flags (time limit); bootstrap from `final_obs` for these.
    pub truncated: &'a [bool],
    /// Reward terms, `num_envs × term_names.len()`.
    pub terms: &'a [f64],
    /// Names of the reward terms.
    pub term_names: &'a [String],
    /// Last observation of the episodes that ended this step, `num_envs × obs_dim` (rows of
    /// instances that did not finish hold stale data).
    pub final_obs: &'a [f32],
}

/// Many instances of one environment. Instance `i` draws its episodes from its own seed stream,
/// and instances never share state, so results are bit-identical for any thread count.
pub struct VecEnv {
    slots: Vec<Slot>,
    pool: rayon::ThreadPool,
    obs_dim: usize,
    action_dim: usize,
    obs: Vec<f32>,
    final_obs: Vec<f32>,
    rewards: Vec<f64>,
    fitness: Vec<f64>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
    terms: Vec<f64>,
    term_names: Vec<String>,
}

impl VecEnv {
    /// `num_envs` instances on `threads` worker threads (0 = one per core), seeded from `seed`.
    pub fn new(model: &Arc<EnvModel>, reward: Option<RewardScript>, num_envs: usize, threads: usize, seed: u64) -> Result<Self, SimError> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .stack_size(WORKER_STACK_BYTES)
            .build()
            .map_err(|e| SimError::Env(format!("cannot start the worker pool: {e}")))?;
        // One copy of the model and the script per worker chunk (see `Sandbox::isolated`): the
        // instances a worker steps share them, no two workers do. A copy per instance would
        // scale as well but costs a single thread ~12% in cache misses (BENCHMARKS.md).
        let chunk = chunk_len(num_envs, pool.current_num_threads());
        let mut copy: Option<(Arc<EnvModel>, Option<RewardScript>)> = None;
        let mut slots = Vec::with_capacity(num_envs);
        for i in 0..num_envs {
            if i % chunk == 0 {
                let model = model.isolated()?;
                let reward = reward.as_ref().map(|r| r.recompiled(model.sandbox())).transpose()?;
                copy = Some((model, reward));
            }
            let (model, reward) = copy.clone().expect("made at i = 0");
            slots.push(Slot {
                env: Env::new(model, reward)?,
                seed: derive_seed(seed, i as u64),
                episodes: 0,
                reward: 0.0,
                fitness: 0.0,
                terminated: false,
                truncated: false,
                termination: None,
                terms: Vec::new(),
                final_obs: Vec::new(),
                error: None,
            });
        }
        let obs_dim = model.obs_dim();
        Ok(Self {
            slots,
            pool,
            obs_dim,
            action_dim: model.action_dim(),
            obs: vec![0.0; num_envs * obs_dim],
            final_obs: vec![0.0; num_envs * obs_dim],
            rewards: vec![0.0; num_envs],
            fitness: vec![0.0; num_envs],
            terminated: vec![false; num_envs],
            truncated: vec![false; num_envs],
            terms: Vec::new(),
            term_names: Vec::new(),
        })
    }

    /// Number of instances.
    pub fn num_envs(&self) -> usize {
        self.slots.len()
    }
    /// Observation length of one instance.
    pub fn obs_dim(&self) -> usize {
        self.obs_dim
    }
    /// Action length of one instance.
    pub fn action_dim(&self) -> usize {
        self.action_dim
    }
    /// Worker threads.
    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    /// Resets every instance to the first episode of its stream; returns the observations.
    pub fn reset(&mut self) -> Result<&[f32], SimError> {
        let chunk = self.chunk_len();
        let results: Vec<Result<(), SimError>> = self.pool.install(|| {
            self.slots
                .par_chunks_mut(chunk)
                .flat_map_iter(|slots| {
                    slots.iter_mut().map(|s| {
                        s.episodes = 0;
                        s.reset()
                    })
                })
                .collect()
        });
        results.into_iter().collect::<Result<(), _>>()?;
        self.gather_obs();
        Ok(&self.obs)
    }

    /// Steps every instance with its row of `actions` (`num_envs × action_dim`); finished
    /// episodes are reset at once. Each worker takes one contiguous chunk of instances.
    pub fn step(&mut self, actions: &[f32]) -> Result<VecStep<'_>, SimError> {
        let (n, a) = (self.slots.len(), self.action_dim);
        if actions.len() != n * a {
            return Err(SimError::Action { expected: n * a, got: actions.len() });
        }
        let chunk = self.chunk_len();
        self.pool.install(|| {
            self.slots.par_chunks_mut(chunk).zip(actions.par_chunks(chunk * a)).for_each(|(slots, actions)| {
                for (slot, action) in slots.iter_mut().zip(actions.chunks(a)) {
                    slot.step(action);
                }
            })
        });
        self.gather()
    }

    /// Advances every instance `steps` steps with a per-instance policy, each worker running its
    /// instances one after the other for all steps (the layout that keeps one world in cache).
    /// `policy(instance, step, obs, action)` must be deterministic. Call [`VecEnv::reset`] first.
    /// Returns the rewards summed over instances and steps.
    pub fn run<P>(&mut self, steps: usize, policy: &P) -> Result<f64, SimError>
    where
        P: Fn(usize, usize, &[f32], &mut [f32]) + Sync,
    {
        let chunk = self.chunk_len();
        let a = self.action_dim;
        let sums: Vec<Result<f64, SimError>> = self.pool.install(|| {
            self.slots
                .par_chunks_mut(chunk)
                .enumerate()
                .flat_map_iter(|(c, slots)| {
                    slots.iter_mut().enumerate().map(move |(k, slot)| {
                        let index = c * chunk + k;
                        let mut action = vec![0.0f32; a];
                        let mut sum = 0.0;
                        for t in 0..steps {
                            policy(index, t, slot.env.obs(), &mut action);
                            slot.step(&action);
                            if let Some(e) = slot.error.take() {
                                return Err(e);
                            }
                            sum += slot.reward;
                        }
                        Ok(sum)
                    })
                })
                .collect()
        });
        sums.into_iter().sum()
    }

    fn chunk_len(&self) -> usize {
        chunk_len(self.slots.len(), self.threads())
    }

    fn gather_obs(&mut self) {
        for (slot, row) in self.slots.iter().zip(self.obs.chunks_mut(self.obs_dim)) {
            row.copy_from_slice(slot.env.obs());
        }
    }

    fn gather(&mut self) -> Result<VecStep<'_>, SimError> {
        if let Some(slot) = self.slots.iter_mut().find(|s| s.error.is_some()) {
            return Err(slot.error.take().expect("checked"));
        }
        self.gather_obs();
        if self.term_names.is_empty()
            && let Some(names) = self.slots.first().and_then(|s| s.env.terms_names())
        {
            self.term_names = names.to_vec();
        }
        self.terms.clear();
        for (i, slot) in self.slots.iter().enumerate() {
            // Each instance fixes its term names on its first call; rows only line up if they agree.
            if let Some(names) = slot.env.terms_names()
                && names != self.term_names.as_slice()
            {
                let script = slot.env.reward_script().map_or("reward script", |s| s.name());
                return Err(SimError::Script(ScriptError {
                    script: script.to_owned(),
                    line: None,
                    column: None,
                    kind: ScriptErrorKind::Contract,
                    message: format!(
                        "`compute_reward` returned terms [{}] in instance {i} but [{}] in instance 0; \
                         return the same terms on every call (use 0.0)",
                        names.join(", "),
                        self.term_names.join(", ")
                    ),
                }));
            }
            self.rewards[i] = slot.reward;
            self.fitness[i] = slot.fitness;
            self.terminated[i] = slot.terminated;
            self.truncated[i] = slot.truncated;
            self.terms.extend_from_slice(&slot.terms);
            if slot.terminated || slot.truncated {
                self.final_obs[i * self.obs_dim..(i + 1) * self.obs_dim].copy_from_slice(&slot.final_obs);
            }
        }
        Ok(VecStep {
            obs: &self.obs,
            rewards: &self.rewards,
            fitness: &self.fitness,
            terminated: &self.terminated,
            truncated: &self.truncated,
            terms: &self.terms,
            term_names: &self.term_names,
            final_obs: &self.final_obs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rewardsmith_spec::catalog;

    fn cartpole() -> Arc<EnvModel> {
        EnvModel::new(&catalog::resolve("cartpole").unwrap()).unwrap()
    }

    fn human(model: &EnvModel) -> RewardScript {
        let (name, source) = catalog::reward_script("cartpole", "human.rhai").unwrap();
        model.compile_reward(name, source).unwrap()
    }

    #[test]
    fn workers_share_no_model_or_script_between_them() {
        let model = cartpole();
        let venv = VecEnv::new(&model, Some(human(&model)), 5, 2, 0).unwrap();
        let models: Vec<&Arc<EnvModel>> = venv.slots.iter().map(|s| s.env.model()).collect();
        // Chunks of 3 and 2 instances: one copy each, and neither is the caller's model.
        assert!(Arc::ptr_eq(models[0], models[2]) && Arc::ptr_eq(models[3], models[4]));
        assert!(!Arc::ptr_eq(models[2], models[3]));
        assert!(models.iter().all(|m| !Arc::ptr_eq(m, &model)));
        // The copies keep the script's direct evaluation.
        assert!(venv.slots.iter().all(|s| s.env.reward_script().is_some_and(|r| r.is_specialized())));
    }

    /// A deterministic action in [-1, 1] for instance `i`, step `t`.
    fn action(i: usize, t: usize) -> f32 {
        (((t * 7 + i * 13) % 17) as f32 / 8.0) - 1.0
    }

    #[test]
    fn obs_and_per_instance_arrays_have_num_envs_rows() {
        let model = cartpole();
        let mut venv = VecEnv::new(&model, None, 3, 1, 9).unwrap();
        assert_eq!((venv.num_envs(), venv.obs_dim(), venv.action_dim()), (3, 4, 1));
        assert_eq!(venv.reset().unwrap().len(), 3 * 4);
        let s = venv.step(&[0.5, -0.5, 1.0]).unwrap();
        assert_eq!(s.obs.len(), 3 * 4);
        assert_eq!(s.final_obs.len(), 3 * 4);
        for len in [s.rewards.len(), s.fitness.len(), s.terminated.len(), s.truncated.len()] {
            assert_eq!(len, 3);
        }
        assert!(s.term_names.is_empty() && s.terms.is_empty(), "no reward script, no terms");
        assert!(matches!(venv.step(&[0.0; 2]), Err(SimError::Action { expected: 3, got: 2 })));
    }

    #[test]
    fn instance_i_runs_the_episodes_of_its_own_seed_stream() {
        let model = cartpole();
        let mut venv = VecEnv::new(&model, None, 3, 2, 9).unwrap();
        let obs = venv.reset().unwrap().to_vec();
        for i in 0..3 {
            let mut env = Env::new(model.clone(), None).unwrap();
            let expected = env.reset(episode_seed(derive_seed(9, i as u64), 0)).unwrap();
            assert_eq!(&obs[i * 4..(i + 1) * 4], expected, "row {i}");
        }
        assert_ne!(obs[0..4], obs[4..8], "instances draw different starts");
    }

    #[test]
    fn term_names_are_filled_once_a_reward_script_runs() {
        let model = cartpole();
        let mut venv = VecEnv::new(&model, Some(human(&model)), 2, 1, 4).unwrap();
        venv.reset().unwrap();
        let s = venv.step(&[0.0, 0.0]).unwrap();
        let mut names = s.term_names.to_vec();
        names.sort();
        assert_eq!(names, ["alive", "calm", "effort", "upright"]);
        assert_eq!(s.terms.len(), 2 * 4, "num_envs × terms");
        for (i, row) in s.terms.chunks(4).enumerate() {
            assert_eq!(row.iter().sum::<f64>(), s.rewards[i], "row {i}: reward is the sum of its terms");
        }
        let alive = s.term_names.iter().position(|n| n == "alive").unwrap();
        assert_eq!(s.terms[alive], 1.0);
    }

    /// Guards the term rows: each instance fixes its names on its first call, so a script whose
    /// names depend on the state would otherwise misalign rows silently.
    #[test]
    fn instances_returning_different_term_names_are_an_error() {
        let model = cartpole();
        let script = model
            .compile_reward("split.rhai", "fn compute_reward(s) {\n    if s.cart_position > 0.0 { #{ a: 1.0, b: 0.0 } } else { #{ a: 1.0, c: 0.0 } }\n}")
            .unwrap();
        let mut venv = VecEnv::new(&model, Some(script), 8, 1, 3).unwrap();
        let obs = venv.reset().unwrap().to_vec();
        let signs: Vec<bool> = obs.chunks(4).map(|o| o[0] > 0.0).collect();
        assert!(signs.contains(&true) && signs.contains(&false), "the seeds put carts on both sides: {signs:?}");
        let err = venv.step(&[0.0; 8]).unwrap_err().to_string();
        assert!(err.starts_with("split.rhai: `compute_reward` returned terms ["), "{err}");
        assert!(err.contains("return the same terms on every call"), "{err}");
    }

    fn run_sum(threads: usize) -> f64 {
        let model = cartpole();
        let mut venv = VecEnv::new(&model, Some(human(&model)), 5, threads, 77).unwrap();
        venv.reset().unwrap();
        let sum = venv.run(80, &|i, t, _obs: &[f32], a: &mut [f32]| a[0] = action(i, t)).unwrap();
        // The run crosses episode ends, so auto-resets are part of what must not depend on threads.
        assert!(venv.slots.iter().any(|s| s.episodes > 1), "no instance finished an episode in 80 steps");
        sum
    }

    #[test]
    fn run_sums_the_same_rewards_with_one_and_two_threads() {
        let (one, two) = (run_sum(1), run_sum(2));
        assert!(one.is_finite() && one > 0.0, "{one}");
        assert_eq!(one.to_bits(), two.to_bits(), "1 thread {one}, 2 threads {two}");
    }
}
