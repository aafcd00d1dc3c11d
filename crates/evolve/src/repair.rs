//! Repairs read from a parent's [`Outcome`]: what an LLM is asked to do with the reflection text
//! (Eureka's "reward reflection"), done on the genome's terms as data.
//!
//! Each rule looks at the parent's reward terms over training (the per-checkpoint statistics the
//! feedback table shows), its evaluation endings and its fitness curve, and changes the terms it
//! finds at fault:
//! - **swamping**: a term whose size dwarfs all the others together is scaled down, so that the
//!   others are still heard (PPO learns from the sum; a term at 1% of it is noise);
//! - **constant**: a term that never varied taught nothing: an exponential shaping saturated at 0
//!   or at its weight is re-tempered (its temperature ×4 or ÷4), anything else is dropped;
//! - **rose while fitness fell**: over the last checkpoints, the term that rose the most while
//!   the fitness fell is dropped (it is what the policy learned to collect instead of the task);
//! - **dominant termination**: where most evaluation episodes end by a termination (every env's
//!   terminations are failures), staying alive is paid: an alive bonus as large as the other
//!   terms, or the existing one doubled.

use crate::es::round_significant;
use crate::library::{Shape, Term};
use rewardsmith_propose::Outcome;

/// A term is swamping when its mean size at the last checkpoint is more than this many times the
/// others' together.
pub const SWAMP_RATIO: f64 = 10.0;

/// A swamping term is scaled to this many times the others' size: still the main term, no
/// longer the only one.
pub const SWAMP_TARGET: f64 = 3.0;

/// A term is constant when its spread over every step of training (max − min over all
/// checkpoints) is below this share of its weight (or of its mean size, whichever is larger).
pub const CONSTANT_SPREAD: f64 = 1e-3;

/// A temperature is changed by this factor when its term was saturated.
pub const RETEMPER: f64 = 4.0;

/// Relative moves smaller than this share of a curve's range over training are flat, not a trend
/// (the reward-hacking alarm's threshold).
pub const TREND: f64 = 0.05;

/// Checkpoints at the end of training a trend is read from (the hacking alarm's).
pub const LAST: usize = 3;

/// A termination that ends more than this share of the evaluation episodes is answered.
pub const DOMINANT_TERMINATION: f64 = 0.5;

/// Significant digits a repaired parameter keeps (as the ES's).
const DIGITS: i32 = 4;

/// Applies every rule that `outcome` calls for to `terms` (the parent's, in place); `alive` is the
/// library's alive bonus where the env has one. Returns what it did, in words, one entry per
/// repair.
pub fn repair(terms: &mut Vec<Term>, outcome: &Outcome, alive: Option<&Term>) -> Vec<String> {
    let mut ops = Vec::new();
    ops.extend(rising_while_fitness_fell(terms, outcome));
    ops.extend(constant(terms, outcome));
    ops.extend(swamping(terms, outcome));
    ops.extend(dominant_termination(terms, outcome, alive));
    ops
}

/// The term's mean size at the last checkpoint, if the outcome traced it.
fn last_size(outcome: &Outcome, name: &str) -> Option<f64> {
    outcome.terms.iter().find(|t| t.name == name).and_then(|t| t.mean.last()).map(|m| m.abs())
}

fn weight(term: &Term) -> f64 {
    term.params.first().map_or(1.0, |(_, w)| *w)
}

fn set_param(term: &mut Term, name: &str, value: f64) -> bool {
    match term.params.iter_mut().find(|(n, _)| n == name) {
        Some((_, v)) => {
            *v = round_significant(value, DIGITS);
            true
        }
        None => false,
    }
}

/// Swamping: one term larger than [`SWAMP_RATIO`] times the others together.
fn swamping(terms: &mut [Term], outcome: &Outcome) -> Option<String> {
    let sizes: Vec<Option<f64>> = terms.iter().map(|t| last_size(outcome, &t.name)).collect();
    if terms.len() < 2 || sizes.iter().any(Option::is_none) {
        return None;
    }
    let sizes: Vec<f64> = sizes.into_iter().flatten().collect();
    let total: f64 = sizes.iter().sum();
    let (big, size) = sizes.iter().copied().enumerate().max_by(|a, b| a.1.total_cmp(&b.1))?;
    let others = total - size;
    if others <= 0.0 || size <= SWAMP_RATIO * others {
        return None;
    }
    let factor = SWAMP_TARGET * others / size;
    let term = &mut terms[big];
    let w = weight(term) * factor;
    set_param(term, "w", w);
    Some(format!("rescale swamping {} (×{:.3}: {:.3} against {:.3} for the rest)", term.name, factor, size, others))
}

/// Constant terms: re-tempered where saturated, else dropped (never the last term, never an alive
/// bonus, which is constant by design and pays through the episodes it lengthens).
// `!(a <= b)` on purpose: a NaN spread or trend must not count as constant or as a fall.
#[allow(clippy::neg_cmp_op_on_partial_ord)]
fn constant(terms: &mut Vec<Term>, outcome: &Outcome) -> Vec<String> {
    let mut ops = Vec::new();
    let mut dropped = Vec::new();
    for (i, term) in terms.iter_mut().enumerate() {
        let Some(trace) = outcome.terms.iter().find(|t| t.name == term.name) else { continue };
        if matches!(term.shape, Shape::Alive) || trace.mean.is_empty() {
            continue;
        }
        let lo = trace.min.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = trace.max.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mean = trace.mean.last().copied().unwrap_or(0.0);
        let w = weight(term).abs();
        if !(hi - lo <= CONSTANT_SPREAD * w.max(mean.abs())) {
            continue;
        }
        let tau = term.params.iter().find(|(n, _)| n == "tau").map(|(_, t)| *t);
        match (&term.shape, tau) {
            // exp(−d/τ) ≈ 0 everywhere: τ is too small for the distances the policy sees.
            (Shape::ExpShaping { .. } | Shape::Tracking { .. }, Some(tau)) if mean.abs() < 0.5 * w => {
                set_param(term, "tau", tau * RETEMPER);
                ops.push(format!("re-temper constant {} (stuck near 0: tau ×{RETEMPER})", term.name));
            }
            // ≈ w everywhere: τ is so large that every state looks at the target.
            (Shape::ExpShaping { .. } | Shape::Tracking { .. }, Some(tau)) => {
                set_param(term, "tau", tau / RETEMPER);
                ops.push(format!("re-temper constant {} (stuck at its weight: tau ÷{RETEMPER})", term.name));
            }
            _ => dropped.push(i),
        }
    }
    for i in dropped.into_iter().rev() {
        if terms.len() > 1 {
            let gone = terms.remove(i);
            ops.push(format!("drop constant {}", gone.name));
        }
    }
    ops
}

/// The first and last of a curve's final [`LAST`] points and its range over the whole curve.
fn tail_trend(curve: &[f64]) -> Option<(f64, f64, f64)> {
    if curve.len() < LAST {
        return None;
    }
    let range = curve.iter().copied().fold(f64::NEG_INFINITY, f64::max) - curve.iter().copied().fold(f64::INFINITY, f64::min);
    Some((curve[curve.len() - LAST], curve[curve.len() - 1], range))
}

/// The term that rose the most (by more than [`TREND`] of its range) over the last checkpoints
/// while the fitness fell, dropped.
#[allow(clippy::neg_cmp_op_on_partial_ord)] // as in `constant`: NaN is no fall
fn rising_while_fitness_fell(terms: &mut Vec<Term>, outcome: &Outcome) -> Option<String> {
    let fitness: Vec<f64> = outcome.fitness_curve.iter().flatten().copied().collect();
    let (f0, f1, f_range) = tail_trend(&fitness)?;
    if !(f0 - f1 > TREND * f_range) || terms.len() < 2 {
        return None;
    }
    let (i, rise) = terms
        .iter()
        .enumerate()
        .filter_map(|(i, term)| {
            let trace = outcome.terms.iter().find(|t| t.name == term.name)?;
            let (m0, m1, range) = tail_trend(&trace.mean)?;
            (m1 - m0 > TREND * range).then_some((i, m1 - m0))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    let gone = terms.remove(i);
    Some(format!("drop {} (rose by {:.3} while the fitness fell from {f0:.3} to {f1:.3})", gone.name, rise))
}

/// Most evaluation episodes end by a termination: pay for staying alive.
fn dominant_termination(terms: &mut Vec<Term>, outcome: &Outcome, alive: Option<&Term>) -> Option<String> {
    let ending = outcome.dominant_termination(DOMINANT_TERMINATION)?.to_owned();
    if let Some(term) = terms.iter_mut().find(|t| matches!(t.shape, Shape::Alive)) {
        let w = weight(term) * 2.0;
        set_param(term, "w", w);
        return Some(format!("double {} (most episodes ended by `{ending}`)", term.name));
    }
    let mut term = alive?.clone();
    let others: f64 = terms.iter().filter_map(|t| last_size(outcome, &t.name)).sum();
    if others > 0.0 {
        set_param(&mut term, "w", others);
    }
    let text = format!("add {} (w {:.3}: most episodes ended by `{ending}`)", term.name, weight(&term));
    terms.push(term);
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rewardsmith_propose::{Ending, TermTrace};

    fn trace(name: &str, mean: &[f64], spread: f64) -> TermTrace {
        TermTrace { name: name.into(), mean: mean.to_vec(), min: mean.iter().map(|m| m - spread).collect(), max: mean.iter().map(|m| m + spread).collect() }
    }

    fn shaping(name: &str, w: f64, tau: f64) -> Term {
        let mut t = Term::new(name.into(), Shape::ExpShaping { var: name.into(), vector: true });
        t.params = vec![("w".into(), w), ("tau".into(), tau)];
        t
    }

    fn penalty(name: &str, w: f64) -> Term {
        let mut t = Term::new(name.into(), Shape::SquaredPenalty { var: name.into(), vector: false });
        t.params = vec![("w".into(), w)];
        t
    }

    #[test]
    fn a_swamping_term_is_scaled_to_a_few_times_the_rest() {
        let mut terms = vec![shaping("big", 1.0, 0.5), penalty("small", 0.1)];
        let outcome = Outcome { terms: vec![trace("big", &[50.0], 1.0), trace("small", &[-1.0], 0.5)], ..Default::default() };
        let ops = repair(&mut terms, &outcome, None);
        assert_eq!(terms[0].params[0].1, 0.06, "3 × 1 / 50: {ops:?}");
        assert!(ops[0].starts_with("rescale swamping big"), "{ops:?}");
        let balanced = Outcome { terms: vec![trace("big", &[5.0], 1.0), trace("small", &[-1.0], 0.5)], ..Default::default() };
        assert!(repair(&mut terms, &balanced, None).is_empty(), "5 against 1 is not swamping");
    }

    #[test]
    fn a_constant_shaping_is_retempered_and_another_constant_term_dropped() {
        let mut terms = vec![shaping("far", 1.0, 0.5), penalty("still", 0.1), shaping("ok", 1.0, 1.0)];
        let outcome =
            Outcome { terms: vec![trace("far", &[0.0, 0.0], 0.0), trace("still", &[-0.2, -0.2], 0.0), trace("ok", &[0.3, 0.6], 0.2)], ..Default::default() };
        let ops = repair(&mut terms, &outcome, None);
        assert_eq!(terms.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["far", "ok"], "{ops:?}");
        assert_eq!(terms[0].params[1].1, 2.0, "tau 0.5 × 4");
        let saturated = Outcome { terms: vec![trace("far", &[2.0, 2.0], 0.0), trace("ok", &[0.3, 0.6], 0.2)], ..Default::default() };
        let mut terms = vec![shaping("far", 2.0, 8.0), shaping("ok", 1.0, 1.0)];
        repair(&mut terms, &saturated, None);
        assert_eq!(terms[0].params[1].1, 2.0, "stuck at its weight: tau 8 ÷ 4");
    }

    #[test]
    fn the_term_that_rose_while_fitness_fell_is_dropped() {
        let mut terms = vec![shaping("task", 1.0, 0.5), shaping("hack", 1.0, 0.5)];
        let outcome = Outcome {
            terms: vec![trace("task", &[0.2, 0.5, 0.5, 0.5], 0.1), trace("hack", &[0.1, 0.2, 0.6, 0.9], 0.1)],
            fitness_curve: vec![Some(0.1), Some(0.8), Some(0.6), Some(0.4)],
            ..Default::default()
        };
        let ops = repair(&mut terms, &outcome, None);
        assert_eq!(terms.len(), 1, "{ops:?}");
        assert_eq!(terms[0].name, "task");
        let rising = Outcome { fitness_curve: vec![Some(0.1), Some(0.5), Some(0.6), Some(0.8)], ..outcome };
        let mut terms = vec![shaping("task", 1.0, 0.5), shaping("hack", 1.0, 0.5)];
        assert!(repair(&mut terms, &rising, None).is_empty(), "fitness rose: nothing to blame");
    }

    #[test]
    fn a_dominant_termination_adds_an_alive_bonus_or_doubles_it() {
        let alive = Term::new("alive".into(), Shape::Alive);
        let endings = vec![Ending { termination: Some("pole_fell".into()), share: 0.8 }, Ending { termination: None, share: 0.2 }];
        let outcome = Outcome { terms: vec![trace("task", &[0.5, 0.4], 0.1)], endings, ..Default::default() };
        let mut terms = vec![shaping("task", 1.0, 0.5)];
        let ops = repair(&mut terms, &outcome, Some(&alive));
        assert_eq!(terms[1].name, "alive");
        assert_eq!(terms[1].params[0].1, 0.4, "as large as the rest: {ops:?}");
        repair(&mut terms, &outcome, Some(&alive));
        assert_eq!(terms.len(), 2);
        assert_eq!(terms[1].params[0].1, 0.8, "doubled");
        let survived = Outcome { endings: vec![Ending { termination: None, share: 1.0 }], ..outcome };
        assert!(repair(&mut terms, &survived, Some(&alive)).is_empty());
    }
}
