//! Reflection: the feedback text the next generation's prompt receives (`gen-NN/feedback.md`).
//!
//! For the best candidate (and, in preference modes, the worst): its script, its evaluated
//! fitness per seed, each reward term's mean/min/max at the training checkpoints beside the
//! return, fitness and episode length, how its evaluation episodes ended, the critic's warnings,
//! and a reward-hacking alarm when the return rose while the fitness fell at the end. Then the
//! errors of failed candidates (so the next generation avoids them) and the best script of every
//! earlier generation with its fitness.

use crate::record::{CandidateResult, Checkpoint, Proposal};
use rewardsmith_propose::{Ending, Outcome, TermTrace};
use std::fmt::Write as _;

/// A candidate as reflection reads it.
pub struct Judged<'a> {
    /// Its proposal.
    pub proposal: &'a Proposal,
    /// Its result (None: never trained, the critic rejected it).
    pub result: Option<&'a CandidateResult>,
}

/// The best of an earlier generation.
pub struct Best {
    /// Generation index.
    pub generation: usize,
    /// Candidate id.
    pub id: String,
    /// Its evaluated fitness.
    pub fitness: f64,
    /// Its script.
    pub script: String,
}

/// What the feedback needs to know about the environment.
pub struct EnvFacts<'a> {
    /// Seconds per step.
    pub dt: f64,
    /// Episode length in steps.
    pub episode_steps: u32,
    /// What the fitness measures, in words.
    pub fitness: &'a str,
    /// How the candidates were compared where no fitness is shown: `by watching them`, or on
    /// the hierarchy of signals.
    pub compared: &'a str,
}

/// Relative moves smaller than this share of a curve's range are flat, not a trend (for the
/// reward-hacking alarm).
const TREND: f64 = 0.05;

/// Checkpoints at the end of training looked at by the reward-hacking alarm.
const LAST: usize = 3;

/// The feedback text for a generation. `ranked` holds the trained candidates, best first;
/// `show_fitness` is false in preference modes, where the proposer sees only which candidates
/// were preferred (the point of ICPL), not their scores.
pub fn feedback(
    generation: usize,
    env: &EnvFacts<'_>,
    candidates: &[Judged<'_>],
    ranked: &[&Judged<'_>],
    show_fitness: bool,
    worst: Option<&Judged<'_>>,
    history: &[Best],
) -> String {
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "Generation {generation}: {} candidates, {} trained and evaluated.", candidates.len(), ranked.len());
    if show_fitness {
        let _ = writeln!(w, "Fitness is the task's success measure ({}), averaged over evaluation seeds; higher is better.\n", env.fitness);
        let scores: Vec<String> = ranked.iter().filter_map(|c| c.result.and_then(|r| r.fitness.map(|f| format!("{}: {f:.3}", r.id)))).collect();
        if !scores.is_empty() {
            let _ = writeln!(w, "Fitness of each trained candidate, best first: {}.\n", scores.join(", "));
        }
    } else if !ranked.is_empty() {
        let order: Vec<&str> = ranked.iter().filter_map(|c| c.result.map(|r| r.id.as_str())).collect();
        let _ = writeln!(w, "The policies trained with them were compared {}; preferred first: {}.\n", env.compared, order.join(", "));
    }
    if let Some(best) = ranked.first() {
        describe(w, if show_fitness { "The best reward function" } else { "The preferred reward function" }, best, env, show_fitness);
    }
    if let Some(worst) = worst {
        describe(w, "The least preferred reward function (the one to move away from)", worst, env, show_fitness);
    }
    let duplicates: Vec<String> = candidates
        .iter()
        .filter_map(|c| {
            let r = c.result?;
            let original = r.duplicate_of.as_ref()?;
            let distance = r.nearest.as_ref().map_or(0.0, |n| n.1);
            Some(format!("- {}: the same reward as {original} up to scale and offset (distance {distance:.4}), so it was not trained", c.proposal.name))
        })
        .collect();
    if !duplicates.is_empty() {
        let _ = writeln!(w, "### Candidates that repeated an earlier reward\n\n{}\n", duplicates.join("\n"));
    }
    let failed: Vec<String> = candidates
        .iter()
        .filter_map(|c| {
            let error = match c.result {
                _ if !c.proposal.critic.ok => c.proposal.critic.error.clone(),
                Some(r) if r.fitness.is_none() => r.error.clone(),
                _ => None,
            }?;
            Some(format!("- {}: {}", c.proposal.name, error.trim()))
        })
        .collect();
    if !failed.is_empty() {
        let _ = writeln!(w, "### Candidates that failed\n\n{}\n", failed.join("\n"));
    }
    if !history.is_empty() {
        let _ = writeln!(w, "### The {} reward function of each earlier generation\n", if show_fitness { "best" } else { "preferred" });
        for b in history {
            let score = if show_fitness { format!(", fitness {:.3}", b.fitness) } else { String::new() };
            let _ = writeln!(w, "Generation {} ({}){score}:\n\n```rhai\n{}\n```\n", b.generation, b.id, b.script.trim_end());
        }
    }
    let _ = writeln!(
        w,
        "Write a new reward function that does better on the task: keep what worked, change or drop terms that did \
         not help, avoid repeating earlier rewards, and fix the failures above."
    );
    out
}

fn describe(w: &mut String, title: &str, judged: &Judged<'_>, env: &EnvFacts<'_>, show_fitness: bool) {
    let Some(result) = judged.result else { return };
    let script = judged.proposal.script.as_deref().unwrap_or("");
    if show_fitness {
        let fitness = result.fitness.map_or("none (training failed)".to_owned(), |f| format!("{f:.3}"));
        let per_seed: Vec<String> = result.fitness_per_seed.iter().map(|f| format!("{f:.3}")).collect();
        let _ = writeln!(w, "### {title}: {}, fitness {fitness} (per evaluation seed: {})\n", result.id, per_seed.join(", "));
    } else {
        let _ = writeln!(w, "### {title}: {}\n", result.id);
    }
    let _ = writeln!(w, "```rhai\n{}\n```\n", script.trim_end());
    if !result.checkpoints.is_empty() {
        let names: Vec<&str> = result.checkpoints[0].terms.iter().map(|t| t.name.as_str()).collect();
        let fitness_column = if show_fitness { " fitness |" } else { "" };
        let _ = writeln!(w, "During training (each term: mean [min, max] over the iteration's steps):\n");
        let _ = writeln!(w, "| step | {} | return |{fitness_column} episode length |", names.join(" | "));
        let _ = writeln!(w, "|---|{}---|{}---|", "---|".repeat(names.len()), if show_fitness { "---|" } else { "" });
        for c in &result.checkpoints {
            let terms: Vec<String> = c.terms.iter().map(|t| format!("{} [{}, {}]", num(t.mean), num(t.min), num(t.max))).collect();
            let fitness = if show_fitness { format!(" {} |", opt(c.fitness)) } else { String::new() };
            let _ = writeln!(w, "| {} | {} | {} |{fitness} {} |", c.global_step, terms.join(" | "), opt(c.episodic_return), opt(c.episodic_length));
        }
        let _ = writeln!(w);
    }
    if show_fitness && let Some(alarm) = hacking_alarm(&result.checkpoints) {
        let _ = writeln!(w, "Reward-hacking alarm: {alarm}\n");
    }
    if let Some(endings) = endings(result, env) {
        let _ = writeln!(w, "Evaluation episodes: {endings}\n");
    }
    if !judged.proposal.critic.warnings.is_empty() {
        let _ = writeln!(w, "Critic warnings: {}\n", judged.proposal.critic.warnings.join("; "));
    }
}

/// A number short enough for a table.
fn num(x: f64) -> String {
    if x == 0.0 || (1e-3..1e4).contains(&x.abs()) { format!("{x:.3}") } else { format!("{x:.2e}") }
}

fn opt(x: Option<f64>) -> String {
    x.map_or("-".to_owned(), num)
}

/// Set when, over the last checkpoints, the return rose while the fitness fell (each by more than
/// [`TREND`] of its range over the run): the policy is learning to please the reward, not to do
/// the task.
pub fn hacking_alarm(checkpoints: &[Checkpoint]) -> Option<String> {
    let series = |f: fn(&Checkpoint) -> Option<f64>| -> Option<(f64, f64, f64)> {
        let all: Vec<f64> = checkpoints.iter().filter_map(f).collect();
        let tail: Vec<f64> = checkpoints.iter().rev().take(LAST).filter_map(f).collect();
        if tail.len() < LAST {
            return None;
        }
        let range = all.iter().cloned().fold(f64::NEG_INFINITY, f64::max) - all.iter().cloned().fold(f64::INFINITY, f64::min);
        // `tail` is newest first.
        Some((tail[LAST - 1], tail[0], range))
    };
    let (r0, r1, r_range) = series(|c| c.episodic_return)?;
    let (f0, f1, f_range) = series(|c| c.fitness)?;
    (r1 - r0 > TREND * r_range && f0 - f1 > TREND * f_range).then(|| {
        format!(
            "over the last {LAST} checkpoints the return rose from {} to {} while the fitness fell from {} to {}: the policy \
             found a way to collect reward without doing the task",
            num(r0),
            num(r1),
            num(f0),
            num(f1)
        )
    })
}

/// What reflection shows about `result`, as numbers, for a proposer that reads data (the same
/// statistics, endings and alarm as [`feedback`]'s text; without fitness where `show_fitness` is
/// false).
pub fn outcome(result: &CandidateResult, show_fitness: bool) -> Outcome {
    let names: Vec<&str> = result.checkpoints.first().map(|c| c.terms.iter().map(|t| t.name.as_str()).collect()).unwrap_or_default();
    let terms = names
        .iter()
        .map(|name| {
            let points: Vec<_> = result.checkpoints.iter().filter_map(|c| c.terms.iter().find(|t| t.name == *name)).collect();
            TermTrace {
                name: (*name).to_owned(),
                mean: points.iter().map(|t| t.mean).collect(),
                min: points.iter().map(|t| t.min).collect(),
                max: points.iter().map(|t| t.max).collect(),
            }
        })
        .collect();
    let total = result.episodes.len().max(1) as f64;
    Outcome {
        fitness: result.fitness.filter(|_| show_fitness),
        terms,
        fitness_curve: result.checkpoints.iter().map(|c| c.fitness.filter(|_| show_fitness)).collect(),
        endings: ending_groups(result)
            .into_iter()
            .map(|(termination, steps)| Ending { termination: termination.map(str::to_owned), share: steps.len() as f64 / total })
            .collect(),
        hacking: show_fitness && hacking_alarm(&result.checkpoints).is_some(),
    }
}

/// The evaluation episodes grouped by how they ended (None: the time limit), with each one's
/// length in steps; the most common first.
fn ending_groups(result: &CandidateResult) -> Vec<(Option<&str>, Vec<u32>)> {
    let mut groups: Vec<(Option<&str>, Vec<u32>)> = Vec::new();
    for e in &result.episodes {
        let key = e.termination.as_deref();
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, steps)) => steps.push(e.steps),
            None => groups.push((key, vec![e.steps])),
        }
    }
    groups.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
    groups
}

/// How the evaluation episodes ended, in words: each termination's share with the median time,
/// and the share that ran to the time limit.
fn endings(result: &CandidateResult, env: &EnvFacts<'_>) -> Option<String> {
    if result.episodes.is_empty() {
        return None;
    }
    let total = result.episodes.len();
    let parts: Vec<String> = ending_groups(result)
        .into_iter()
        .map(|(name, mut steps)| {
            steps.sort_unstable();
            let share = 100.0 * steps.len() as f64 / total as f64;
            match name {
                Some(name) => format!("{share:.0}% ended by `{name}` (median t = {:.2} s)", f64::from(steps[steps.len() / 2]) * env.dt),
                None => format!("{share:.0}% ran to the time limit ({:.1} s)", f64::from(env.episode_steps) * env.dt),
            }
        })
        .collect();
    Some(format!("{} of {total} episodes.", parts.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Episode, Verdict};

    fn checkpoint(ret: f64, fitness: f64) -> Checkpoint {
        Checkpoint { global_step: 0, episodic_return: Some(ret), episodic_length: None, fitness: Some(fitness), terms: Vec::new() }
    }

    #[test]
    fn the_alarm_rings_when_return_rises_while_fitness_falls_at_the_end() {
        let hacked: Vec<Checkpoint> = [(0.0, 0.1), (5.0, 0.6), (6.0, 0.8), (8.0, 0.5), (10.0, 0.3)].iter().map(|&(r, f)| checkpoint(r, f)).collect();
        assert!(hacking_alarm(&hacked).unwrap().contains("fell from 0.800 to 0.300"));
        let healthy: Vec<Checkpoint> = [(0.0, 0.1), (5.0, 0.6), (6.0, 0.7), (8.0, 0.8), (10.0, 0.9)].iter().map(|&(r, f)| checkpoint(r, f)).collect();
        assert_eq!(hacking_alarm(&healthy), None);
        assert_eq!(hacking_alarm(&hacked[..2]), None, "too few checkpoints to tell");
    }

    #[test]
    fn endings_name_each_termination_with_its_share_and_median_time() {
        let episode = |termination: Option<&str>, steps| Episode { seed: 0, fitness: 0.0, ret: 0.0, steps, termination: termination.map(str::to_owned) };
        let result = CandidateResult {
            id: "gen-00/cand-00".into(),
            status: "trained".into(),
            error: None,
            duplicate_of: None,
            nearest: None,
            global_step: 0,
            seconds: 0.0,
            fitness: Some(0.2),
            fitness_per_seed: vec![0.2],
            episodes: vec![episode(Some("pole_fell"), 10), episode(Some("pole_fell"), 30), episode(Some("pole_fell"), 20), episode(None, 500)],
            checkpoints: Vec::new(),
            hierarchy: Vec::new(),
        };
        let env = EnvFacts { dt: 0.02, episode_steps: 500, fitness: "x", compared: "by watching them" };
        assert_eq!(endings(&result, &env).unwrap(), "75% ended by `pole_fell` (median t = 0.40 s); 25% ran to the time limit (10.0 s) of 4 episodes.");
        let data = outcome(&result, true);
        assert_eq!(data.dominant_termination(0.5), Some("pole_fell"));
        assert_eq!(data.endings[1], Ending { termination: None, share: 0.25 });
        assert_eq!(outcome(&result, false).fitness, None, "no fitness where the proposer is not shown it");
        let proposal = Proposal {
            name: "cand-00".into(),
            round: 0,
            script: Some("fn compute_reward(s) { 1.0 }".into()),
            reply: None,
            critic: Verdict { ok: true, stage: None, error: None, terms: Vec::new(), warnings: vec!["w".into()], prints: Vec::new(), cost: None },
            parents: Vec::new(),
        };
        let judged = Judged { proposal: &proposal, result: Some(&result) };
        let text = feedback(0, &env, std::slice::from_ref(&judged), &[&judged], true, None, &[]);
        assert!(text.contains("### The best reward function: gen-00/cand-00, fitness 0.200") && text.contains("Critic warnings: w"), "{text}");
    }
}
