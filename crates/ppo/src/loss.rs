//! PPO's loss (Schulman et al. 2017, as in CleanRL's `ppo_continuous_action.py`) and the
//! Gaussian policy's log-probability, with the gradients the backward pass needs.

/// Weights of the loss terms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossConfig {
    /// Surrogate clipping coefficient ε: the ratio is clipped to [1 − ε, 1 + ε]. Default 0.2.
    pub clip_coef: f32,
    /// Whether the value loss is clipped around the old values by ±`clip_coef`. Default true.
    pub clip_vloss: bool,
    /// Weight of the value loss. Default 0.5.
    pub vf_coef: f32,
    /// Weight of the entropy bonus. Default 0.0 (CleanRL's continuous default).
    pub ent_coef: f32,
}

impl Default for LossConfig {
    fn default() -> Self {
        Self { clip_coef: 0.2, clip_vloss: true, vf_coef: 0.5, ent_coef: 0.0 }
    }
}

/// The logged quantities of one minibatch (CleanRL's `losses/*`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LossStats {
    /// `losses/policy_loss`: the clipped surrogate, negated.
    pub policy_loss: f32,
    /// `losses/value_loss`.
    pub value_loss: f32,
    /// `losses/old_approx_kl`: mean of −ln r, the naive KL estimator CleanRL logs beside
    /// `approx_kl` (unbiased but high-variance, and negative at times).
    pub old_approx_kl: f32,
    /// `losses/approx_kl`: mean of (r − 1) − ln r (Schulman's low-variance estimator).
    pub approx_kl: f32,
    /// `losses/clipfrac`: fraction of samples with |r − 1| > ε.
    pub clipfrac: f32,
}

/// One minibatch, one entry per sample.
#[derive(Debug, Clone, Copy)]
pub struct Minibatch<'a> {
    /// log π_new(a | s).
    pub logp_new: &'a [f32],
    /// log π_old(a | s), recorded during the rollout.
    pub logp_old: &'a [f32],
    /// Advantages (normalised by the caller if wanted).
    pub advantages: &'a [f32],
    /// V_new(s).
    pub values_new: &'a [f32],
    /// V_old(s), recorded during the rollout.
    pub values_old: &'a [f32],
    /// Returns (GAE advantage + V_old).
    pub returns: &'a [f32],
}

/// Policy and value losses of a minibatch, and the gradient of the total loss
/// `policy_loss + vf_coef · value_loss` with respect to each `logp_new` and `values_new`.
pub fn ppo_loss(cfg: &LossConfig, mb: &Minibatch<'_>, d_logp: &mut [f32], d_value: &mut [f32]) -> LossStats {
    let b = mb.logp_new.len();
    for len in [mb.logp_old.len(), mb.advantages.len(), mb.values_new.len(), mb.values_old.len(), mb.returns.len(), d_logp.len(), d_value.len()] {
        assert_eq!(len, b, "all minibatch slices have one entry per sample");
    }
    let inv = 1.0 / b as f32;
    let eps = cfg.clip_coef;
    let mut stats = LossStats::default();
    for i in 0..b {
        // Policy: max(−A·r, −A·clip(r)). The clipped branch has no gradient once r is clipped;
        // where both branches are equal the gradient is the unclipped one's.
        let log_ratio = mb.logp_new[i] - mb.logp_old[i];
        let ratio = log_ratio.exp();
        let a = mb.advantages[i];
        let unclipped = -a * ratio;
        let clipped = -a * ratio.clamp(1.0 - eps, 1.0 + eps);
        stats.policy_loss += unclipped.max(clipped) * inv;
        d_logp[i] = if unclipped >= clipped { -a * ratio * inv } else { 0.0 };
        stats.old_approx_kl += -log_ratio * inv;
        stats.approx_kl += ((ratio - 1.0) - log_ratio) * inv;
        if (ratio - 1.0).abs() > eps {
            stats.clipfrac += inv;
        }
        // Value: ½ max((v − R)², (v_old + clip(v − v_old) − R)²), or ½ (v − R)².
        let (v, v_old, ret) = (mb.values_new[i], mb.values_old[i], mb.returns[i]);
        let plain = (v - ret) * (v - ret);
        let (loss, grad) = if cfg.clip_vloss {
            let moved = v - v_old;
            let v_clipped = v_old + moved.clamp(-eps, eps);
            let clipped = (v_clipped - ret) * (v_clipped - ret);
            if plain >= clipped {
                (plain, v - ret)
            } else if moved.abs() < eps {
                (clipped, v_clipped - ret)
            } else {
                (clipped, 0.0)
            }
        } else {
            (plain, v - ret)
        };
        stats.value_loss += 0.5 * loss * inv;
        d_value[i] = cfg.vf_coef * grad * inv;
    }
    stats
}

/// ½ ln(2π).
const HALF_LN_2PI: f32 = 0.918_938_5;

/// log N(action | mean, exp(log_std)) summed over action components (gradients:
/// [`gaussian_log_prob_grad`]).
pub fn gaussian_log_prob(action: &[f32], mean: &[f32], log_std: &[f32]) -> f32 {
    action
        .iter()
        .zip(mean)
        .zip(log_std)
        .map(|((a, m), s)| {
            let z = (a - m) * (-s).exp();
            -0.5 * z * z - s - HALF_LN_2PI
        })
        .sum()
}

/// Adds `upstream · ∂ log N / ∂ mean` and `∂ / ∂ log_std` to the given gradients.
pub fn gaussian_log_prob_grad(action: &[f32], mean: &[f32], log_std: &[f32], upstream: f32, d_mean: &mut [f32], d_log_std: &mut [f32]) {
    for k in 0..action.len() {
        let inv_std = (-log_std[k]).exp();
        let z = (action[k] - mean[k]) * inv_std;
        d_mean[k] += upstream * z * inv_std;
        d_log_std[k] += upstream * (z * z - 1.0);
    }
}

/// Entropy of a diagonal Gaussian: Σ (½ + ½ ln 2π + log σ); its gradient is 1 per log σ.
pub fn gaussian_entropy(log_std: &[f32]) -> f32 {
    log_std.iter().map(|s| 0.5 + HALF_LN_2PI + s).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (logp_new, logp_old, advantages, values_new, values_old, returns).
    type Columns = ([f32; 4], [f32; 4], [f32; 4], [f32; 4], [f32; 4], [f32; 4]);

    fn minibatch() -> Columns {
        ([-1.0, -0.5, -2.0, -0.2], [-1.1, -0.9, -1.5, -0.2], [1.0, -0.5, 2.0, -1.0], [0.5, 1.0, -0.3, 2.0], [0.4, 0.5, 0.0, 2.05], [1.0, 0.8, -0.2, 1.0])
    }

    /// Golden values from this independent Python computation:
    ///
    /// ```python
    /// clip = 0.2
    /// lpn = [-1.0, -0.5, -2.0, -0.2]; lpo = [-1.1, -0.9, -1.5, -0.2]; A = [1.0, -0.5, 2.0, -1.0]
    /// ratio = [math.exp(a - b) for a, b in zip(lpn, lpo)]
    /// pg = sum(max(-a * r, -a * min(max(r, 1 - clip), 1 + clip)) for a, r in zip(A, ratio)) / 4
    /// kl = sum((r - 1) - math.log(r) for r in ratio) / 4
    /// cf = sum(abs(r - 1) > clip for r in ratio) / 4
    /// vn = [0.5, 1.0, -0.3, 2.0]; vo = [0.4, 0.5, 0.0, 2.05]; ret = [1.0, 0.8, -0.2, 1.0]
    /// vl = 0.5 * sum(max((a - R)**2, (b + min(max(a - b, -clip), clip) - R)**2)
    ///                for a, b, R in zip(vn, vo, ret)) / 4
    /// # pg = -0.14307997217006985, kl = 0.05088156885738784, cf = 0.5, vl = 0.1625
    /// ```
    #[test]
    fn loss_matches_the_reference_computation() {
        let (lpn, lpo, adv, vn, vo, ret) = minibatch();
        let mb = Minibatch { logp_new: &lpn, logp_old: &lpo, advantages: &adv, values_new: &vn, values_old: &vo, returns: &ret };
        let (mut dl, mut dv) = ([0.0; 4], [0.0; 4]);
        let s = ppo_loss(&LossConfig::default(), &mb, &mut dl, &mut dv);
        assert!((s.policy_loss - -0.143_079_97).abs() < 1e-6, "{s:?}");
        assert!((s.approx_kl - 0.050_881_57).abs() < 1e-6, "{s:?}");
        assert_eq!(s.clipfrac, 0.5);
        assert!((s.value_loss - 0.1625).abs() < 1e-6, "{s:?}");
    }

    /// CleanRL's `old_approx_kl = (-logratio).mean()`: here log r = [0.2, 0, −0.6] gives
    /// (−0.2 + 0 + 0.6) / 3 = 0.4 / 3, and `approx_kl` is never negative while it can be.
    #[test]
    fn old_approx_kl_is_the_mean_negative_log_ratio() {
        let (lpn, lpo) = ([-1.0f32, -0.5, -2.0], [-1.2f32, -0.5, -1.4]);
        let zeros = [0.0f32; 3];
        let mb = Minibatch { logp_new: &lpn, logp_old: &lpo, advantages: &zeros, values_new: &zeros, values_old: &zeros, returns: &zeros };
        let (mut dl, mut dv) = ([0.0; 3], [0.0; 3]);
        let s = ppo_loss(&LossConfig::default(), &mb, &mut dl, &mut dv);
        assert!((s.old_approx_kl - 0.4 / 3.0).abs() < 1e-6, "{s:?}");
        let flipped = Minibatch { logp_new: &lpo, logp_old: &lpn, ..mb };
        let s = ppo_loss(&LossConfig::default(), &flipped, &mut dl, &mut dv);
        assert!((s.old_approx_kl + 0.4 / 3.0).abs() < 1e-6 && s.approx_kl > 0.0, "{s:?}");
    }

    /// The gradients against central differences of the loss itself, in f64 terms of f32 data.
    #[test]
    fn loss_gradients_match_finite_differences() {
        let (lpn, lpo, adv, vn, vo, ret) = minibatch();
        let cfg = LossConfig::default();
        let total = |lpn: &[f32], vn: &[f32]| {
            let mb = Minibatch { logp_new: lpn, logp_old: &lpo, advantages: &adv, values_new: vn, values_old: &vo, returns: &ret };
            let s = ppo_loss(&cfg, &mb, &mut [0.0; 4], &mut [0.0; 4]);
            f64::from(s.policy_loss) + f64::from(cfg.vf_coef) * f64::from(s.value_loss)
        };
        let mb = Minibatch { logp_new: &lpn, logp_old: &lpo, advantages: &adv, values_new: &vn, values_old: &vo, returns: &ret };
        let (mut dl, mut dv) = ([0.0; 4], [0.0; 4]);
        ppo_loss(&cfg, &mb, &mut dl, &mut dv);
        let h = 1e-3f32;
        for i in 0..4 {
            let (mut up, mut down) = (lpn, lpn);
            up[i] += h;
            down[i] -= h;
            let numeric = (total(&up, &vn) - total(&down, &vn)) / f64::from(2.0 * h);
            assert!((numeric - f64::from(dl[i])).abs() < 1e-3, "d logp {i}: {} vs {numeric}", dl[i]);
            let (mut up, mut down) = (vn, vn);
            up[i] += h;
            down[i] -= h;
            let numeric = (total(&lpn, &up) - total(&lpn, &down)) / f64::from(2.0 * h);
            assert!((numeric - f64::from(dv[i])).abs() < 1e-3, "d value {i}: {} vs {numeric}", dv[i]);
        }
    }

    #[test]
    fn gaussian_log_prob_and_its_gradients() {
        // N(0.3 | 0.1, e^-0.5) + N(-1 | 0, e^0.2): log densities by the textbook formula.
        let (a, m, s) = ([0.3f32, -1.0], [0.1f32, 0.0], [-0.5f32, 0.2]);
        let expected: f64 = [(0.3f64, 0.1f64, -0.5f64), (-1.0, 0.0, 0.2)]
            .iter()
            .map(|(a, m, s)| {
                let sd = s.exp();
                -0.5 * ((a - m) / sd).powi(2) - sd.ln() - 0.5 * (2.0 * std::f64::consts::PI).ln()
            })
            .sum();
        assert!((f64::from(gaussian_log_prob(&a, &m, &s)) - expected).abs() < 1e-5);
        let (mut dm, mut ds) = ([0.0; 2], [0.0; 2]);
        gaussian_log_prob_grad(&a, &m, &s, 1.0, &mut dm, &mut ds);
        let h = 1e-3;
        for k in 0..2 {
            let (mut up, mut down) = (m, m);
            up[k] += h;
            down[k] -= h;
            let numeric = (gaussian_log_prob(&a, &up, &s) - gaussian_log_prob(&a, &down, &s)) / (2.0 * h);
            assert!((numeric - dm[k]).abs() < 1e-2, "d mean {k}: {} vs {numeric}", dm[k]);
            let (mut up, mut down) = (s, s);
            up[k] += h;
            down[k] -= h;
            let numeric = (gaussian_log_prob(&a, &m, &up) - gaussian_log_prob(&a, &m, &down)) / (2.0 * h);
            assert!((numeric - ds[k]).abs() < 1e-2, "d log_std {k}: {} vs {numeric}", ds[k]);
        }
        assert!((gaussian_entropy(&s) - (2.0 * (0.5 + 0.918_938_5) - 0.3)).abs() < 1e-6);
    }
}
