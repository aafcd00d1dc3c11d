//! Duplicate rewards: two scripts that differ in text may rank every state the same way (a
//! rescaled or shifted copy). Each reward is evaluated on one shared sample of states,
//! standardised (centred, scaled to unit RMS: the STARC idea of comparing rewards up to the
//! transformations that do not change what is optimal, restricted here to affine ones), and
//! compared by the RMS of the difference.

use rewardsmith_script::{RewardScript, RewardTerms, ScriptError, State};

/// A reward's standardised values on the shared states.
#[derive(Debug, Clone, PartialEq)]
pub struct Signature(Vec<f64>);

impl Signature {
    /// `script`'s total reward on each state, centred and scaled to unit RMS (a constant reward
    /// becomes all zeros: every constant ranks states alike).
    pub fn of(script: &RewardScript, states: &[State]) -> Result<Self, ScriptError> {
        let mut terms = RewardTerms::default();
        let mut values = Vec::with_capacity(states.len());
        for state in states {
            script.call(state, &mut terms)?;
            values.push(terms.total());
        }
        let n = values.len().max(1) as f64;
        let mean = values.iter().sum::<f64>() / n;
        let rms = (values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt();
        // Below this spread the reward is constant up to rounding: scaling it up would amplify
        // noise into a shape.
        const CONSTANT: f64 = 1e-12;
        let scale = if rms > CONSTANT * (1.0 + mean.abs()) { 1.0 / rms } else { 0.0 };
        Ok(Self(values.iter().map(|v| (v - mean) * scale).collect()))
    }

    /// RMS of the difference of two signatures: 0 for rewards equal up to a positive affine map,
    /// 2 for opposite ones, about √2 for unrelated ones.
    pub fn distance(&self, other: &Signature) -> f64 {
        let n = self.0.len().max(1) as f64;
        (self.0.iter().zip(&other.0).map(|(a, b)| (a - b) * (a - b)).sum::<f64>() / n).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rewardsmith_sim::{critic_states, EnvModel};
    use rewardsmith_spec::catalog;

    fn distance(a: &str, b: &str) -> f64 {
        let model = EnvModel::new(&catalog::resolve("pendulum").unwrap()).unwrap();
        let states = critic_states(&model, 128, 0).unwrap();
        let sig = |source: &str| Signature::of(&model.compile_reward("r.rhai", source).unwrap(), &states).unwrap();
        sig(a).distance(&sig(b))
    }

    #[test]
    fn rescaled_and_shifted_rewards_are_duplicates_and_others_are_not() {
        let base = "fn compute_reward(s) { s.pole_cos - 0.1 * square(s.pole_angular_velocity) }";
        let affine = "fn compute_reward(s) { #{ a: 3.0 * s.pole_cos + 7.0, b: -0.3 * square(s.pole_angular_velocity) } }";
        assert!(distance(base, affine) < 1e-9, "{}", distance(base, affine));
        let negated = "fn compute_reward(s) { -s.pole_cos + 0.1 * square(s.pole_angular_velocity) }";
        assert!((distance(base, negated) - 2.0).abs() < 1e-9);
        let other = "fn compute_reward(s) { -square(s.pole_angular_velocity) }";
        assert!(distance(base, other) > 0.1);
    }

    #[test]
    fn constant_rewards_are_duplicates_of_each_other() {
        assert_eq!(distance("fn compute_reward(s) { 1.0 }", "fn compute_reward(s) { -5.0 }"), 0.0);
    }
}
