//! A (μ/μ_w, λ) evolution strategy with self-adapted step size (Beyer & Schwefel's σSA-ES) over
//! the continuous parameters of reward terms: weights, temperatures, gate floors (positive, so
//! moved in log space: a step is a factor) and targets (moved in the variable's unit).
//!
//! The genomes it works on differ in structure (terms dropped, added, gated), so recombination is
//! per parameter: a child's parameter is the weighted mean of that parameter over the ranked
//! parents that have the same term with the same parameter. The step size σ travels in each genome
//! and is itself recombined and mutated (`σ' = σ · exp(τ · N(0, 1))`, `τ = 1/√(2n)`) before it
//! moves the parameters; selection on the judged order then keeps the step sizes that made good
//! children, which is how σ adapts from fitness across generations without a covariance to learn
//! from the handful of candidates a reward search trains.

use crate::library::{MAX_GATE_FLOOR, Term};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Knobs of the evolution strategy.
#[derive(Debug, Clone, PartialEq)]
pub struct EsConfig {
    /// Step size of a genome that has none yet (generation 0's parents, foreign scripts): the σ
    /// of each parameter's log-normal factor (or of a target's normal shift, in its variable's
    /// unit). Default 0.25: every parameter moves by ×0.6 to ×1.65 at 2σ.
    pub initial_sigma: f64,
    /// Smallest step size, so that a lineage never freezes. Default 0.02.
    pub min_sigma: f64,
    /// Largest step size, so that one lucky draw cannot turn a lineage into random search.
    /// Default 1.0.
    pub max_sigma: f64,
}

impl Default for EsConfig {
    fn default() -> Self {
        Self { initial_sigma: 0.25, min_sigma: 0.02, max_sigma: 1.0 }
    }
}

/// Recombination weights of `mu` parents ranked best first: `wᵢ ∝ ln(μ + ½) − ln i`, summing to
/// 1 (Hansen's default; the best parent weighs most, every one counts).
pub fn weights(mu: usize) -> Vec<f64> {
    let raw: Vec<f64> = (1..=mu).map(|i| libm::log(mu as f64 + 0.5) - libm::log(i as f64)).collect();
    let total: f64 = raw.iter().sum();
    raw.into_iter().map(|w| w / total).collect()
}

/// Whether a parameter lives on a log scale (every parameter but a target is positive).
fn is_log_scale(name: &str) -> bool {
    !name.ends_with("target")
}

/// Sets each parameter of `terms` to its weighted mean over the `parents` (ranked, with
/// [`weights`]) whose term of the same name has it: geometric for log-scale parameters, arithmetic
/// for targets. A parameter no parent shares keeps its value. Returns how many parameters moved.
pub fn recombine(terms: &mut [Term], parents: &[&[Term]], weights: &[f64]) -> usize {
    let mut moved = 0;
    for term in terms.iter_mut() {
        for (name, value) in term.params.iter_mut() {
            let log = is_log_scale(name) && *value > 0.0;
            let (mut sum, mut total) = (0.0, 0.0);
            for (parent, w) in parents.iter().zip(weights) {
                let shared = parent.iter().find(|t| t.name == term.name).and_then(|t| t.params.iter().find(|(n, _)| n == name));
                if let Some((_, x)) = shared.filter(|(_, x)| !log || *x > 0.0) {
                    sum += w * if log { libm::log(*x) } else { *x };
                    total += w;
                }
            }
            if total > 0.0 {
                let mean = sum / total;
                let mean = if log { libm::exp(mean) } else { mean };
                if mean != *value {
                    moved += 1;
                }
                *value = mean;
            }
        }
    }
    moved
}

/// The weighted geometric mean of the parents' step sizes (`initial` for one without).
pub fn recombine_sigma(sigmas: &[Option<f64>], weights: &[f64], initial: f64) -> f64 {
    let log: f64 = sigmas.iter().zip(weights).map(|(s, w)| w * libm::log(s.unwrap_or(initial))).sum();
    libm::exp(log / weights.iter().take(sigmas.len()).sum::<f64>())
}

/// The child's step size: `sigma · exp(τ · N(0, 1))` with `τ = 1/√(2n)` for `n` parameters,
/// within the configured bounds.
pub fn mutate_sigma(sigma: f64, n: usize, config: &EsConfig, rng: &mut ChaCha8Rng) -> f64 {
    let tau = 1.0 / libm::sqrt(2.0 * n.max(1) as f64);
    (sigma * libm::exp(tau * standard_normal(rng))).clamp(config.min_sigma, config.max_sigma)
}

/// Moves every parameter of `terms` by step size `sigma`: a log-scale parameter by the factor
/// `exp(σ · N)` (a gate floor no higher than [`MAX_GATE_FLOOR`]), a target by `σ · N`. Values
/// are rounded to `digits` significant digits so scripts stay readable.
pub fn perturb(terms: &mut [Term], sigma: f64, digits: i32, rng: &mut ChaCha8Rng) {
    for term in terms.iter_mut() {
        for (name, value) in term.params.iter_mut() {
            let n = standard_normal(rng);
            let moved = if is_log_scale(name) {
                let scaled = *value * libm::exp(sigma * n);
                if name.ends_with("_floor") { scaled.min(MAX_GATE_FLOOR) } else { scaled }
            } else {
                *value + sigma * n
            };
            *value = round_significant(moved, digits);
        }
    }
}

/// The number of continuous parameters of `terms` (the ES's dimension).
pub fn dimension(terms: &[Term]) -> usize {
    terms.iter().map(|t| t.params.len()).sum()
}

/// `x` rounded to `digits` significant decimal digits (exact for the decimal text it prints).
pub fn round_significant(x: f64, digits: i32) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let text = format!("{:.*e}", (digits - 1).max(0) as usize, x);
    text.parse().unwrap_or(x)
}

/// A standard normal draw (Box–Muller on libm, so the same on every machine).
pub fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random();
    libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(2.0 * std::f64::consts::PI * u2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::library::Shape;
    use rand::SeedableRng;

    fn term(name: &str, w: f64, tau: f64) -> Term {
        let mut t = Term::new(name.into(), Shape::ExpShaping { var: "x".into(), vector: true });
        t.params = vec![("w".into(), w), ("tau".into(), tau)];
        t
    }

    #[test]
    fn weights_favour_the_best_parent_and_sum_to_one() {
        let w = weights(3);
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(w[0] > w[1] && w[1] > w[2] && w[2] > 0.0, "{w:?}");
        assert_eq!(weights(1), vec![1.0]);
    }

    #[test]
    fn recombination_averages_shared_parameters_only() {
        let best = vec![term("a", 1.0, 0.5)];
        let second = vec![term("a", 4.0, 0.5), term("b", 9.0, 1.0)];
        let mut child = vec![term("a", 4.0, 0.5), term("b", 9.0, 1.0)];
        let w = [0.75, 0.25];
        recombine(&mut child, &[&best, &second], &w);
        // Geometric: exp(0.75 ln 1 + 0.25 ln 4) = √2.
        assert!((child[0].params[0].1 - 2f64.sqrt()).abs() < 1e-12, "{:?}", child[0].params);
        assert!((child[1].params[0].1 - 9.0).abs() < 1e-12, "only the second parent has b: it keeps its value");
    }

    #[test]
    fn self_adapted_step_sizes_stay_within_bounds_and_vary() {
        let config = EsConfig::default();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let sigmas: Vec<f64> = (0..200).map(|_| mutate_sigma(0.25, 4, &config, &mut rng)).collect();
        assert!(sigmas.iter().all(|s| (config.min_sigma..=config.max_sigma).contains(s)));
        let (lo, hi) = sigmas.iter().fold((f64::MAX, f64::MIN), |(lo, hi), s| (lo.min(*s), hi.max(*s)));
        assert!(lo < 0.2 && hi > 0.3, "τ = 1/√8 spreads σ over [{lo}, {hi}]");
        assert!((recombine_sigma(&[Some(0.1), None], &[0.5, 0.5], 0.4) - 0.2).abs() < 1e-12);
    }

    #[test]
    fn perturbation_moves_every_parameter_and_keeps_floors_below_one() {
        let mut t = term("a", 1.0, 0.5);
        t.params.push(("g1_floor".into(), 0.94));
        t.params.push(("target".into(), 0.0));
        let mut terms = vec![t];
        perturb(&mut terms, 0.5, 4, &mut ChaCha8Rng::seed_from_u64(3));
        let p = &terms[0].params;
        assert!(p[0].1 != 1.0 && p[1].1 != 0.5 && p[3].1 != 0.0, "{p:?}");
        assert!(p[2].1 <= MAX_GATE_FLOOR && p[0].1 > 0.0 && p[1].1 > 0.0);
    }
}
