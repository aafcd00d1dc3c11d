//! The Adam optimiser (Kingma & Ba 2015) with bias correction, as `torch.optim.Adam`.

/// Adam's hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamConfig {
    /// Step size. Default 3e-4 (CleanRL's continuous PPO).
    pub lr: f32,
    /// Decay of the first-moment estimate. Default 0.9.
    pub beta1: f32,
    /// Decay of the second-moment estimate. Default 0.999.
    pub beta2: f32,
    /// Added to the root of the second moment; CleanRL passes 1e-5 rather than PyTorch's 1e-8.
    pub eps: f32,
}

impl Default for AdamConfig {
    fn default() -> Self {
        Self { lr: 3e-4, beta1: 0.9, beta2: 0.999, eps: 1e-5 }
    }
}

/// Adam's moment estimates for one parameter vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Adam {
    m: Vec<f32>,
    v: Vec<f32>,
    t: i32,
}

impl Adam {
    /// State for `n` parameters.
    pub fn new(n: usize) -> Self {
        Self { m: vec![0.0; n], v: vec![0.0; n], t: 0 }
    }

    /// One update of `params` against `grads` with step size `lr` (the caller anneals it).
    pub fn step(&mut self, cfg: &AdamConfig, lr: f32, params: &mut [f32], grads: &[f32]) {
        assert!(params.len() == self.m.len() && grads.len() == self.m.len(), "one gradient per parameter");
        self.t += 1;
        let c1 = 1.0 - cfg.beta1.powi(self.t);
        let c2 = 1.0 - cfg.beta2.powi(self.t);
        for (((p, g), m), v) in params.iter_mut().zip(grads).zip(&mut self.m).zip(&mut self.v) {
            *m = cfg.beta1 * *m + (1.0 - cfg.beta1) * g;
            *v = cfg.beta2 * *v + (1.0 - cfg.beta2) * g * g;
            *p -= lr * (*m / c1) / ((*v / c2).sqrt() + cfg.eps);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference: the update rule as `torch.optim.Adam`'s documentation states it (bias-corrected
    /// moments, `eps` added to the root), evaluated by hand for step 1 and in f64 inside the test
    /// for step 2; not produced by running torch.
    ///
    /// step 1: g = [0.5, -1.0]: m̂ = g, v̂ = g², p −= 0.1 · g / (|g| + 1e-5) → [0.900002, -1.900001]
    #[test]
    fn adam_matches_the_update_rule() {
        let cfg = AdamConfig { lr: 0.1, ..AdamConfig::default() };
        let mut adam = Adam::new(2);
        let mut p = [1.0f32, -2.0];
        adam.step(&cfg, cfg.lr, &mut p, &[0.5, -1.0]);
        assert!((p[0] - 0.900_002).abs() < 1e-5 && (p[1] - -1.900_001).abs() < 1e-5, "{p:?}");
        adam.step(&cfg, cfg.lr, &mut p, &[0.25, 0.5]);
        let expected = {
            let m = [0.9 * 0.05 + 0.1 * 0.25, 0.9 * -0.1 + 0.1 * 0.5];
            let v = [0.999 * 0.00025 + 0.001 * 0.0625, 0.999 * 0.001 + 0.001 * 0.25];
            let (c1, c2) = (1.0 - 0.9f64 * 0.9, 1.0 - 0.999f64 * 0.999);
            [0.900_002 - 0.1 * (m[0] / c1) / ((v[0] / c2).sqrt() + 1e-5), -1.900_001 - 0.1 * (m[1] / c1) / ((v[1] / c2).sqrt() + 1e-5)]
        };
        assert!((f64::from(p[0]) - expected[0]).abs() < 1e-5, "{p:?} vs {expected:?}");
        assert!((f64::from(p[1]) - expected[1]).abs() < 1e-5, "{p:?} vs {expected:?}");
    }
}
