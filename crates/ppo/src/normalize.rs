//! Running normalisation of observations and rewards, as gymnasium's `NormalizeObservation` and
//! `NormalizeReward` wrappers (which CleanRL's continuous PPO uses).

/// The ε in `sqrt(var + ε)` of both normalisations, as gymnasium's wrappers; a saved policy
/// states it (`obs_norm_epsilon`).
pub const NORM_EPSILON: f64 = 1e-8;

/// Running mean and variance per component (Chan et al.'s parallel update, in f64).
#[derive(Debug, Clone, PartialEq)]
pub struct RunningMeanStd {
    /// Mean per component.
    pub mean: Vec<f64>,
    /// Variance per component.
    pub var: Vec<f64>,
    /// Samples seen; starts at 1e-4 as in gymnasium, so the first update dominates.
    pub count: f64,
}

impl RunningMeanStd {
    /// Statistics of `dim` components, starting at mean 0 and variance 1.
    pub fn new(dim: usize) -> Self {
        Self { mean: vec![0.0; dim], var: vec![1.0; dim], count: 1e-4 }
    }

    /// Folds in a batch of `rows` rows of `mean.len()` components.
    pub fn update(&mut self, batch: &[f32]) {
        let dim = self.mean.len();
        let rows = batch.len() / dim;
        if rows == 0 {
            return;
        }
        let n = rows as f64;
        for k in 0..dim {
            let column = batch.iter().skip(k).step_by(dim).map(|x| f64::from(*x));
            let batch_mean = column.clone().sum::<f64>() / n;
            let batch_var = column.map(|x| (x - batch_mean) * (x - batch_mean)).sum::<f64>() / n;
            let delta = batch_mean - self.mean[k];
            let total = self.count + n;
            let m2 = self.var[k] * self.count + batch_var * n + delta * delta * self.count * n / total;
            self.mean[k] += delta * n / total;
            self.var[k] = m2 / total;
        }
        self.count += n;
    }

    /// Writes `(x − mean) / sqrt(var + NORM_EPSILON)`, clipped to ±`clip`, for every row of `x`.
    pub fn normalize(&self, x: &[f32], clip: f32, out: &mut [f32]) {
        let dim = self.mean.len();
        for (i, (o, v)) in out.iter_mut().zip(x).enumerate() {
            let k = i % dim;
            let z = (f64::from(*v) - self.mean[k]) / (self.var[k] + NORM_EPSILON).sqrt();
            *o = (z as f32).clamp(-clip, clip);
        }
    }
}

/// Scales rewards by the standard deviation of the discounted return, per instance.
#[derive(Debug, Clone, PartialEq)]
pub struct RewardScaler {
    returns: Vec<f64>,
    stats: RunningMeanStd,
    gamma: f64,
}

impl RewardScaler {
    /// A scaler for `num_envs` instances with discount `gamma`.
    pub fn new(num_envs: usize, gamma: f32) -> Self {
        Self { returns: vec![0.0; num_envs], stats: RunningMeanStd::new(1), gamma: f64::from(gamma) }
    }

    /// Scales one step's rewards in place (clipped to ±`clip`); `done` restarts the return.
    pub fn scale(&mut self, rewards: &mut [f32], done: &[bool], clip: f32) {
        for (ret, r) in self.returns.iter_mut().zip(rewards.iter()) {
            *ret = *ret * self.gamma + f64::from(*r);
        }
        let batch: Vec<f32> = self.returns.iter().map(|r| *r as f32).collect();
        self.stats.update(&batch);
        let std = (self.stats.var[0] + NORM_EPSILON).sqrt();
        for r in rewards.iter_mut() {
            *r = ((f64::from(*r) / std) as f32).clamp(-clip, clip);
        }
        for (ret, d) in self.returns.iter_mut().zip(done) {
            if *d {
                *ret = 0.0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_stats_match_the_batch_statistics() {
        let data: Vec<f32> = (0..200).map(|i| (i as f32 * 0.37).sin() * 3.0 + 1.0).collect();
        let mut rms = RunningMeanStd::new(2);
        for chunk in data.chunks(20) {
            rms.update(chunk);
        }
        for k in 0..2 {
            let column: Vec<f64> = data.iter().skip(k).step_by(2).map(|x| f64::from(*x)).collect();
            let mean = column.iter().sum::<f64>() / column.len() as f64;
            let var = column.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / column.len() as f64;
            // The 1e-4 prior count shifts the estimate by ~1e-6.
            assert!((rms.mean[k] - mean).abs() < 1e-4 && (rms.var[k] - var).abs() < 1e-3, "{k}: {rms:?}");
        }
    }

    #[test]
    fn normalized_values_are_clipped() {
        let mut rms = RunningMeanStd::new(1);
        rms.update(&[0.0, 1.0, 0.0, 1.0]);
        let mut out = [0.0f32; 2];
        rms.normalize(&[0.5, 1000.0], 5.0, &mut out);
        assert!(out[0].abs() < 1e-3 && out[1] == 5.0, "{out:?}");
    }
}
