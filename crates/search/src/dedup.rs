//! Duplicate rewards: [`Signature`] (in the script crate, shared with the offline proposer) on
//! the critic's states; a candidate closer than `dedup_epsilon` to a trained one is not trained.
//! The tests live here because they need an environment to sample states from.

pub use rewardsmith_script::Signature;

#[cfg(test)]
mod tests {
    use rewardsmith_script::Signature;
    use rewardsmith_sim::{EnvModel, critic_states};
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
