//! The critic: runs a reward script on sampled states before any training is spent on it.
//!
//! [`review`] runs it and gathers what it returned; [`judge`] turns that into the one
//! [`Verdict`] that `rewardsmith check`, `propose` and the search all give: refused (an error, a
//! reward that is constant on every state, a script too costly to train with) or passed, with
//! warnings (a constant or very large term, a costly script) and its cost per call.

use crate::error::ScriptError;
use crate::reward::{RewardScript, RewardTerms};
use crate::types::State;
use serde::{Deserialize, Serialize};

/// Range and mean of one reward term over the critic's states.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// The same for the reward itself, the sum of the terms (named `reward`).
    pub total: TermStats,
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
    let mut total = (f64::INFINITY, f64::NEG_INFINITY, 0.0);
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
        for (s, v) in stats.iter_mut().chain(std::iter::once(&mut total)).zip(terms.values.iter().copied().chain([terms.total()])) {
            s.0 = s.0.min(v);
            s.1 = s.1.max(v);
            s.2 += v;
        }
    }
    let n = states.len().max(1) as f64;
    let terms = terms.names.iter().zip(stats).map(|(name, (min, max, sum))| TermStats { name: name.clone(), min, max, mean: sum / n }).collect();
    let prints = script_prints(script);
    let total = TermStats { name: "reward".to_owned(), min: total.0, max: total.1, mean: total.2 / n };
    Ok(CriticReport { script: script.name().to_owned(), samples: states.len(), terms, total, prints })
}

/// Rhai operations per call above which a script is refused: ~100× an ordinary reward (tens to
/// a few hundred operations), about 1 ms per call on the development VM
/// ([`NS_PER_OPERATION`]), which would dominate any env step.
pub const OPERATIONS_REFUSED: u64 = 20_000;
/// Operations per call above which the verdict warns (a tenth of the refusal).
pub const OPERATIONS_WARNED: u64 = 2_000;
/// Wall time of one Rhai operation, rounded up from the development VM (2-core Xeon, release
/// build, `cargo run --release -p rewardsmith-script --example call_cost`: 51 ns for a 4-term
/// reward, 31 ns in a loop of arithmetic), for turning operation counts into seconds. Only the
/// estimate in words uses it: verdicts are decided on counts, which repeat on every machine.
pub const NS_PER_OPERATION: f64 = 50.0;
/// A term whose absolute value exceeds this on the critic's states gets a warning: the prompt
/// advises about ±10 per step, and one huge term drowns the others.
pub const LARGE_TERM: f64 = 100.0;

/// What a reward script costs per call, and what that means for one training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    /// Mean Rhai operations per call over the critic's states.
    pub operations_mean: f64,
    /// The most operations one call took.
    pub operations_max: u64,
    /// Environment steps of the training it was judged for.
    pub training_steps: u64,
    /// Estimated seconds the script alone takes over that training
    /// (`operations_mean × NS_PER_OPERATION × training_steps`).
    pub seconds_per_training: f64,
}

/// The critic's one verdict on a script, as `check --json` prints it and `critic.json` stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// Whether the script may be trained with.
    pub ok: bool,
    /// Where it failed: `proposer` (no script), `critic` (an error, a constant reward, a cost
    /// past the limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// Why it was refused (script errors name line and column).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Each term's range on the critic's states.
    #[serde(default)]
    pub terms: Vec<TermStats>,
    /// What would not refuse it but deserves a look: a constant or very large term, a costly
    /// script.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// What it printed (bounded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prints: Vec<String>,
    /// What it costs per call (None when it did not run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<Cost>,
}

impl Verdict {
    /// A refusal at `stage` with its reason.
    pub fn refused(stage: &str, error: String) -> Self {
        Self { ok: false, stage: Some(stage.to_owned()), error: Some(error), terms: Vec::new(), warnings: Vec::new(), prints: Vec::new(), cost: None }
    }
}

/// The verdict on `script` over `states`, for a training of `training_steps` environment steps
/// in an env whose episodes can end early (`terminates`: it has termination conditions) or not.
///
/// A reward constant on every state is refused where it can teach nothing: when it is 0, or
/// when episodes only end at the time limit (then every policy earns the same return). Where
/// episodes can end early, a nonzero constant is an alive bonus (or a cost of living), a
/// classic reward on its own (cartpole's), and only warned about.
pub fn judge(script: &RewardScript, states: &[State], training_steps: u64, terminates: bool) -> Verdict {
    let report = match review(script, states) {
        Ok(report) => report,
        Err(e) => return Verdict::refused("critic", e.to_string()),
    };
    let mut operations = Vec::with_capacity(states.len());
    for state in states {
        match script.operations(state) {
            Ok(ops) => operations.push(ops),
            Err(e) => return Verdict::refused("critic", e.to_string()),
        }
    }
    let operations_mean = operations.iter().sum::<u64>() as f64 / operations.len().max(1) as f64;
    let operations_max = operations.iter().copied().max().unwrap_or(0);
    let seconds_per_training = operations_mean * NS_PER_OPERATION * 1e-9 * training_steps as f64;
    let cost = Cost { operations_mean, operations_max, training_steps, seconds_per_training };
    let costly = format!(
        "costs up to {operations_max} operations per call (mean {operations_mean:.0}; an ordinary reward takes tens to hundreds), \
         about {seconds_per_training:.0} s of script time alone over a training of {training_steps} steps"
    );
    let flat = |t: &TermStats| t.max - t.min <= 1e-12 * (1.0 + t.mean.abs());
    let mut warnings = Vec::new();
    let mut refusal = None;
    if flat(&report.total) {
        let constant = format!("the reward is constant ({}) on all {} critic states", report.total.mean, report.samples);
        if report.total.mean == 0.0 {
            refusal = Some(format!("{constant}: it cannot tell one action from another (zero everywhere)"));
        } else if !terminates {
            refusal = Some(format!("{constant}: it cannot tell one action from another (episodes end only at the time limit, so every policy earns the same)"));
        } else {
            warnings.push(format!("{constant}: it rewards only how long episodes last"));
        }
    }
    if refusal.is_none() && operations_max > OPERATIONS_REFUSED {
        refusal = Some(format!("{costly}; the limit is {OPERATIONS_REFUSED} operations per call"));
    }
    for t in report.terms.iter().filter(|_| report.terms.len() > 1) {
        if flat(t) {
            warnings.push(format!("term `{}` is constant ({}) on the critic's states: it shapes nothing", t.name, t.mean));
        }
    }
    for t in &report.terms {
        let peak = t.min.abs().max(t.max.abs());
        if peak > LARGE_TERM {
            warnings.push(format!("term `{}` reaches {peak:.3e}, beyond the advised ±10 per step: it drowns the other terms", t.name));
        }
    }
    if refusal.is_none() && operations_max > OPERATIONS_WARNED {
        warnings.push(costly);
    }
    Verdict {
        ok: refusal.is_none(),
        stage: refusal.as_ref().map(|_| "critic".to_owned()),
        error: refusal,
        terms: report.terms,
        warnings,
        prints: report.prints,
        cost: Some(cost),
    }
}

fn script_prints(script: &RewardScript) -> Vec<String> {
    let (mut lines, dropped) = script.sandbox().take_prints();
    if dropped > 0 {
        lines.push(format!("… {dropped} more lines dropped"));
    }
    lines
}
