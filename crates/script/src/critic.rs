//! The critic: runs a reward script on sampled states before any training is spent on it.

use crate::error::ScriptError;
use crate::reward::{RewardScript, RewardTerms};
use crate::types::State;
use serde::Serialize;

/// Range and mean of one reward term over the critic's states.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TermStats {
    /// Term name.
    pub name: String,
    /// Smallest value seen.
    pub min: f64,
    /// Largest value seen.
    pub max: f64,
    /// Mean value.
    pub mean: f64,
}

/// What the critic saw on a script that passed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CriticReport {
    /// The script's name.
    pub script: String,
    /// How many states it was called on.
    pub samples: usize,
    /// Per-term statistics, in the script's term order.
    pub terms: Vec<TermStats>,
    /// What the script printed (bounded), for the reward designer to read.
    pub prints: Vec<String>,
}

/// Calls `script` on every state; the first error (run-time, contract, NaN/inf, limit) rejects it,
/// with the index of the state that caused it appended to the message.
pub fn review(script: &RewardScript, states: &[State]) -> Result<CriticReport, ScriptError> {
    // The print log is per thread: start from an empty one so the report holds this script's lines.
    script_prints(script);
    let mut terms = RewardTerms::default();
    let mut stats: Vec<(f64, f64, f64)> = Vec::new();
    for (i, state) in states.iter().enumerate() {
        script.call(state, &mut terms).map_err(|mut e| {
            // Drop what the failed script printed, so that it does not show up in the next report.
            script_prints(script);
            e.message.push_str(&format!(" (critic sample {i} of {}, step {})", states.len(), state.data().step));
            e
        })?;
        if stats.is_empty() {
            stats = vec![(f64::INFINITY, f64::NEG_INFINITY, 0.0); terms.values.len()];
        }
        for (s, v) in stats.iter_mut().zip(&terms.values) {
            s.0 = s.0.min(*v);
            s.1 = s.1.max(*v);
            s.2 += v;
        }
    }
    let n = states.len().max(1) as f64;
    let terms = terms
        .names
        .iter()
        .zip(stats)
        .map(|(name, (min, max, sum))| TermStats { name: name.clone(), min, max, mean: sum / n })
        .collect();
    let prints = script_prints(script);
    Ok(CriticReport { script: script.name().to_owned(), samples: states.len(), terms, prints })
}

fn script_prints(script: &RewardScript) -> Vec<String> {
    let (mut lines, dropped) = script.sandbox().take_prints();
    if dropped > 0 {
        lines.push(format!("… {dropped} more lines dropped"));
    }
    lines
}
