//! How alike two rewards are: two scripts that differ in text may rank every state the same way
//! (a rescaled or shifted copy). Each reward is evaluated on one shared sample of states (the
//! critic's), standardised (centred, scaled to unit RMS: the STARC idea of comparing rewards up to
//! the transformations that do not change what is optimal, restricted here to affine ones), and
//! compared by the RMS of the difference. The search skips training near-copies of trained
//! rewards; the offline proposer keeps mutating a child until it differs from its parent.

use crate::{RewardScript, RewardTerms, ScriptError, State};

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
