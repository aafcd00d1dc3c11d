//! Generalised advantage estimation (Schulman et al. 2016) with PPO's treatment of time limits:
//! a truncated episode bootstraps from the value of its final observation, a terminated one does
//! not, and neither lets the advantage trace run into the next episode.

/// Discounting of GAE.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GaeConfig {
    /// Discount factor γ per step. Default 0.99.
    pub gamma: f32,
    /// GAE's λ: 0 is one-step TD, 1 is Monte Carlo. Default 0.95.
    pub lambda: f32,
}

impl Default for GaeConfig {
    fn default() -> Self {
        Self { gamma: 0.99, lambda: 0.95 }
    }
}

/// One rollout of `steps × num_envs` transitions, time-major (`index = t · num_envs + env`).
#[derive(Debug, Clone, Copy)]
pub struct Transitions<'a> {
    /// Instances stepped in parallel.
    pub num_envs: usize,
    /// Reward of step t.
    pub rewards: &'a [f32],
    /// V(s_t).
    pub values: &'a [f32],
    /// V(s_{t+1}) of the observation step t led to; for an episode that ended at t, the value of
    /// its final observation (before the auto-reset). Ignored where `terminated`.
    pub next_values: &'a [f32],
    /// The episode ended at t by a termination condition (no bootstrap).
    pub terminated: &'a [bool],
    /// The episode ended at t by the time limit (bootstrap from `next_values`).
    pub truncated: &'a [bool],
}

/// Writes advantages and returns (advantage + value) for every transition.
pub fn gae(cfg: &GaeConfig, tr: &Transitions<'_>, advantages: &mut [f32], returns: &mut [f32]) {
    let n = tr.num_envs;
    let len = tr.rewards.len();
    for slice in [tr.values.len(), tr.next_values.len(), tr.terminated.len(), tr.truncated.len(), advantages.len(), returns.len()] {
        assert_eq!(slice, len, "all per-transition slices have steps × num_envs entries");
    }
    assert_eq!(len % n, 0, "length is a multiple of num_envs");
    for env in 0..n {
        let mut next_advantage = 0.0f32;
        for t in (0..len / n).rev() {
            let i = t * n + env;
            let bootstrap = if tr.terminated[i] { 0.0 } else { cfg.gamma * tr.next_values[i] };
            let delta = tr.rewards[i] + bootstrap - tr.values[i];
            let carry = if tr.terminated[i] || tr.truncated[i] { 0.0 } else { next_advantage };
            next_advantage = delta + cfg.gamma * cfg.lambda * carry;
            advantages[i] = next_advantage;
            returns[i] = next_advantage + tr.values[i];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Golden values from this independent Python computation (plain floats, no numpy):
    ///
    /// ```python
    /// g, l = 0.9, 0.8
    /// r  = [[1.0, 0.5], [0.0, -1.0], [2.0, 0.25], [1.5, 1.0]]
    /// v  = [[0.5, 0.1], [0.4, -0.2], [1.0, 0.3], [0.7, 0.9]]
    /// nv = [[0.4, -0.2], [1.0, 3.0], [0.7, 0.9], [0.2, -0.5]]  # env 1 truncated at t=1: V(final)=3
    /// term  = [[0, 0], [0, 0], [1, 0], [0, 0]]
    /// trunc = [[0, 0], [0, 1], [0, 0], [0, 0]]
    /// for i in range(2):
    ///     a = 0.0
    ///     for t in reversed(range(4)):
    ///         done = term[t][i] or trunc[t][i]
    ///         delta = r[t][i] + g * (1 - term[t][i]) * nv[t][i] - v[t][i]
    ///         a = delta + g * l * (0.0 if done else a)
    ///         adv[t][i] = a
    /// # adv (time-major) = [1.7384, 1.588, 1.22, 1.9, 1.0, 0.508, 0.98, -0.35]
    /// ```
    #[test]
    fn gae_matches_the_reference_computation() {
        let rewards = [1.0, 0.5, 0.0, -1.0, 2.0, 0.25, 1.5, 1.0];
        let values = [0.5, 0.1, 0.4, -0.2, 1.0, 0.3, 0.7, 0.9];
        let next_values = [0.4, -0.2, 1.0, 3.0, 0.7, 0.9, 0.2, -0.5];
        let terminated = [false, false, false, false, true, false, false, false];
        let truncated = [false, false, false, true, false, false, false, false];
        let tr = Transitions { num_envs: 2, rewards: &rewards, values: &values, next_values: &next_values, terminated: &terminated, truncated: &truncated };
        let (mut adv, mut ret) = ([0.0f32; 8], [0.0f32; 8]);
        gae(&GaeConfig { gamma: 0.9, lambda: 0.8 }, &tr, &mut adv, &mut ret);
        let expected = [1.7384, 1.588, 1.22, 1.9, 1.0, 0.508, 0.98, -0.35];
        for (i, (a, e)) in adv.iter().zip(expected).enumerate() {
            assert!((a - e).abs() < 1e-6, "advantage {i}: {a} vs {e}");
            assert!((ret[i] - (e + values[i])).abs() < 1e-6, "return {i}");
        }
    }

    #[test]
    fn lambda_zero_is_one_step_td_and_termination_drops_the_bootstrap() {
        let tr = Transitions {
            num_envs: 1,
            rewards: &[1.0, 1.0],
            values: &[0.5, 0.5],
            next_values: &[2.0, 2.0],
            terminated: &[false, true],
            truncated: &[false, false],
        };
        let (mut adv, mut ret) = ([0.0f32; 2], [0.0f32; 2]);
        gae(&GaeConfig { gamma: 0.5, lambda: 0.0 }, &tr, &mut adv, &mut ret);
        assert_eq!(adv, [1.0 + 0.5 * 2.0 - 0.5, 1.0 - 0.5]);
    }
}
