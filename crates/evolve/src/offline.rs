//! The offline evolutionary proposer: the embedded default when no LLM is configured, and the
//! baseline an LLM must beat.
//!
//! It works on [`Genome`]s (the terms of [`crate::library`] plus embedded foreign scripts), not on
//! text. A child of a parent is made in this order: maybe terms crossed over from a second
//! parent; its continuous parameters recombined with the other ranked parents' (the evolution
//! strategy of [`crate::es`]); the repairs its parent's outcome calls for ([`crate::repair`], for a
//! share of the children); maybe a term dropped, a library term added, a gate; and last every
//! parameter moved by the child's step size, itself mutated. A foreign parent (`sparse.rhai`, an LLM's script) enters as one embedded term
//! whose weight evolves, and whose own float literals (found by Rhai's tokenizer, so never in a
//! comment or string) are perturbed the same way. Every script it writes carries its genome in its first line, so its own
//! children are read back exactly. Generation 0 starts from `sparse.rhai` and scripts assembled
//! from the templates, never from `human.rhai`, the yardstick the search is scored against.
//!
//! Everything is drawn from one seeded ChaCha8 stream; every child passes the critic (on the
//! states `rewardsmith check` uses by default) before it is returned.

use crate::es::{self, EsConfig, round_significant, standard_normal};
use crate::library::{GateTemplate, MAX_GATE_FLOOR, MAX_GATES, Shape, Term, bodies_of, gates, library, reads, reads_component, render, shape_variable};
use crate::repair::repair;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rewardsmith_propose::{Candidate, CandidateError, Context, Generation, Outcome, ProposeError, Proposer, Usage};
use rewardsmith_script::{Signature, judge};
use rewardsmith_sim::{CRITIC_SAMPLES, CRITIC_SEED, EnvModel, SimError, critic_states};
use rewardsmith_spec::{ValueType, catalog};
use std::sync::Arc;

/// Added to the seed of generation 0's template parents, so they do not draw the same numbers
/// as the children proposed with the same seed.
const INITIAL_STREAM: u64 = 0x9e37_79b9_7f4a_7c15;

/// The operator's name in a child's provenance when it took terms from a second parent.
const CROSSOVER: &str = "crossover";

/// A child script and the parents it descends from (indices into the parents it was bred from:
/// its main parent, then the crossover partner if terms were taken from one).
#[derive(Debug, Clone, PartialEq)]
pub struct Child {
    /// The script, genome on its first line.
    pub script: String,
    /// Indices of its parents.
    pub parents: Vec<usize>,
}

/// The first-line marker of a script the offline proposer wrote, followed by its genome as JSON.
const GENOME_MARKER: &str = "// rewardsmith-offline-genome: ";

/// How a child's continuous parameters move.
#[derive(Debug, Clone, PartialEq)]
pub enum Steps {
    /// The evolution strategy of [`crate::es`]: recombined over the ranked parents, every
    /// parameter moved by a self-adapted step size. The default.
    Es(EsConfig),
    /// One parameter moved by a fixed log-normal factor of σ [`OfflineConfig::sigma`] (the
    /// proposer before the ES; kept to measure the ES against).
    Fixed,
}

/// Knobs of the offline proposer.
#[derive(Debug, Clone, PartialEq)]
pub struct OfflineConfig {
    /// σ of the log-normal factor on a perturbed literal of an embedded script, and on the one
    /// parameter [`Steps::Fixed`] moves (and of the normal shift, in the variable's unit, of a
    /// target). Default 0.5: ×0.37 to ×2.7 at 2σ.
    pub sigma: f64,
    /// How continuous parameters move. Default [`Steps::Es`] with its defaults.
    pub steps: Steps,
    /// Probability that a child of a parent whose outcome is known takes the repairs that outcome
    /// calls for ([`crate::repair`]) before it is mutated; 0 turns reading outcomes off. Default
    /// 0.5: half the children try the repair, half explore as before, and selection tells which
    /// was right.
    pub p_repair: f64,
    /// Probability that a child drops one term (when it has more than one). Default 0.2.
    pub p_drop: f64,
    /// Probability that a child gains one library term. Default 0.3.
    pub p_add: f64,
    /// Probability that a child crosses over with a second parent (when there is one). Default 0.3.
    pub p_crossover: f64,
    /// Probability that a child (or a template parent of generation 0) has one of its bounded
    /// terms multiplied by a gate (see [`Term::gates`]). Default 0.3.
    pub p_gate: f64,
    /// Probability that a child perturbs one numeric literal inside an embedded foreign script
    /// (when it has one), as it perturbs its own parameters. Default 0.5.
    pub p_literal: f64,
    /// Terms of a script assembled from templates for generation 0 (but the first, which has one
    /// per measured variable): at least 2, at most this. Default 4.
    pub max_initial_terms: usize,
    /// Template-assembled parents added to `sparse.rhai` in generation 0. Default 3.
    pub initial_template_parents: usize,
    /// Children tried per candidate before giving up on it (a child can fail the critic, e.g. an
    /// overflowing exponent, or be a near-copy of its parent). Default 20.
    pub max_attempts: usize,
    /// Smallest distance (see `rewardsmith_script::Signature`) a child must have from its parent;
    /// a closer one is mutated again (the search would not train it), and if no attempt gets this
    /// far, the farthest is returned. Default 0.01, the search's default `dedup_epsilon`.
    pub min_distance: f64,
    /// States the critic checks each child on, sampled with seed 0: the same states `rewardsmith
    /// check` uses by default, so a child the proposer accepts passes `check` too. Default
    /// `CRITIC_SAMPLES` (256).
    pub critic_states: usize,
}

impl Default for OfflineConfig {
    fn default() -> Self {
        Self {
            sigma: 0.5,
            steps: Steps::Es(EsConfig::default()),
            p_repair: 0.5,
            p_drop: 0.2,
            p_add: 0.3,
            p_crossover: 0.3,
            p_gate: 0.3,
            p_literal: 0.5,
            max_initial_terms: 4,
            initial_template_parents: 3,
            max_attempts: 20,
            min_distance: 0.01,
            critic_states: CRITIC_SAMPLES,
        }
    }
}

/// A reward script as the offline proposer sees it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Genome {
    /// The returned map's terms.
    pub terms: Vec<Term>,
    /// Foreign scripts embedded whole.
    pub functions: Vec<Embedded>,
    /// The evolution strategy's step size this genome was made with (None: a template parent or a
    /// foreign script, which start at the ES's initial step size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sigma: Option<f64>,
}

/// A foreign script inside a genome: its functions renamed into their own namespace
/// (`compute_reward` → `name`, a helper `h` → `name_h`, calls included) so that two embedded
/// scripts never clash, and [`Shape::Embedded`] terms call `name`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Embedded {
    /// The function a term calls (the script's renamed `compute_reward`).
    pub name: String,
    /// The renamed script.
    pub source: String,
}

impl Genome {
    /// Reads a script: the genome line of one the proposer wrote, or a foreign script embedded as
    /// one term.
    pub fn read(script: &str) -> Self {
        let marked = script.lines().next().and_then(|l| l.strip_prefix(GENOME_MARKER)).and_then(|json| serde_json::from_str::<Genome>(json).ok());
        // Trusted only if it is whole and still describes the code below it: a script edited by
        // hand or by an LLM after the proposer wrote it is read as the foreign script it now is.
        if let Some(genome) = marked.filter(|g| g.is_whole() && code_of(&g.write("")) == code_of(script)) {
            return genome;
        }
        let name = format!("embedded_{:08x}", fnv1a(script.as_bytes()) as u32);
        let source = namespace_functions(script, &name);
        Self { terms: vec![Term::new(name.clone(), Shape::Embedded { function: name.clone() })], functions: vec![Embedded { name, source }], sigma: None }
    }

    /// The script, its genome on the first line and `provenance` below it.
    pub fn write(&self, provenance: &str) -> String {
        let json = serde_json::to_string(self).expect("a genome serialises");
        let sources: Vec<String> = self.functions.iter().map(|f| f.source.clone()).collect();
        render(&self.terms, &sources, &format!("{}{json}\n{provenance}", &GENOME_MARKER[3..]))
    }

    /// At least one term, each with a `w`, distinct names, and every embedded function a term
    /// calls present: what the operators and `render` rely on.
    fn is_whole(&self) -> bool {
        let mut names: Vec<&str> = self.terms.iter().map(|t| t.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        !self.terms.is_empty()
            && names.len() == self.terms.len()
            && self.terms.iter().all(|t| t.params.first().is_some_and(|(k, _)| k == "w"))
            && self.terms.iter().all(|t| match &t.shape {
                Shape::Embedded { function } => self.functions.iter().any(|f| &f.name == function),
                _ => true,
            })
    }

    /// Keeps only the embedded functions some term still calls.
    fn prune_functions(&mut self) {
        let used: Vec<&str> =
            self.terms.iter().filter_map(|t| if let Shape::Embedded { function } = &t.shape { Some(function.as_str()) } else { None }).collect();
        self.functions.retain(|f| used.contains(&f.name.as_str()));
    }
}

/// A script without its leading comment lines (genome, provenance): the code itself.
fn code_of(script: &str) -> &str {
    let mut rest = script;
    while rest.starts_with("//") {
        rest = rest.find('\n').map_or("", |i| &rest[i + 1..]);
    }
    rest
}

/// 64-bit FNV-1a: a stable name for an embedded script (the same script gets the same name in
/// every parent, so crossing over two children of it does not duplicate it).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// A candidate the offline proposer could not produce.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("no child of parent {parent} passed the critic in {attempts} attempts; last error: {last_error}")]
pub struct OfflineError {
    /// Index of the parent in the pool.
    pub parent: usize,
    /// Children tried.
    pub attempts: usize,
    /// Why the last one failed.
    pub last_error: String,
}

/// The offline proposer for one environment.
pub struct OfflineProposer {
    model: Arc<EnvModel>,
    library: Vec<Term>,
    gates: Vec<GateTemplate>,
    config: OfflineConfig,
}

impl OfflineProposer {
    /// A proposer for `model`'s state variables.
    pub fn new(model: Arc<EnvModel>, config: OfflineConfig) -> Self {
        let library = library(&model);
        let gates = gates(&model);
        Self { model, library, gates, config }
    }

    /// Generation 0's parents for this env: its built-in `sparse.rhai` (when the env is a
    /// built-in, or a copy of one that the script still fits, and the success measure is not
    /// hidden: sparse.rhai is that measure as a reward) and template-assembled scripts.
    pub fn generation_zero(&self, seed: u64) -> Vec<String> {
        let sparse = catalog::reward_script(&self.model.spec().id, "sparse.rhai")
            .map(|(_, source)| source)
            .filter(|_| !self.model.spec().fitness.hidden)
            .filter(|source| self.model.compile_reward("sparse.rhai", source).is_ok());
        self.initial_parents(sparse, seed)
    }

    /// Generation 0's parents: `sparse` (the env's fitness-indicator script, if it has one) and
    /// template-assembled scripts, each with one term over each variable the env's success
    /// measure reads (the prompt shows an LLM that expression; this is the same hint): without
    /// them, a random pick often shapes nothing the task is judged by. The first has those terms
    /// alone, folded into one product where it can (see `conjunction`), gated "at rest"; the
    /// others add random templates up to 2 to `max_initial_terms` terms.
    pub fn initial_parents(&self, sparse: Option<&str>, seed: u64) -> Vec<String> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ INITIAL_STREAM);
        let mut parents: Vec<String> = sparse.map(str::to_owned).into_iter().collect();
        let measured = fitness_variables(&self.model);
        for i in 0..self.config.initial_template_parents {
            // The first parent is the hint alone (its extra terms drowned it in some seeds: every
            // child of a cluttered first parent scored 0 on cartpole-swingup, so selection had
            // nothing to go on); the others add random terms.
            // Where the measure reads no variable (cartpole counts steps survived), the first
            // parent would have no term at all: it takes random ones like the others.
            let hint_only = i == 0 && !measured.is_empty();
            let n = if hint_only { 0 } else { rng.random_range(2..=self.config.max_initial_terms.max(2)).min(self.library.len()) };
            let mut terms: Vec<Term> = Vec::new();
            for var in &measured {
                if let Some(progress) = self.progress_hint(var) {
                    terms.push(progress);
                    continue;
                }
                let over: Vec<&Term> = self.library.iter().filter(|t| term_variable(t) == Some(var.as_str())).collect();
                terms.extend(over.choose(&mut rng).map(|t| (*t).clone()));
            }
            let others: Vec<&Term> = self.library.iter().filter(|t| terms.iter().all(|chosen| chosen.name != t.name)).collect();
            terms.extend(others.choose_multiple(&mut rng, n.saturating_sub(terms.len())).map(|t| (*t).clone()));
            let mut genome = Genome { terms, functions: Vec::new(), sigma: None };
            let mut ops = Vec::new();
            if i == 0 {
                // The first parent says the success measure as dm_control's rewards do, as one
                // product where it can (a success measure is usually a conjunction: upright *and*
                // centred); a sum pays for one condition alone, and on cartpole-swingup "centred,
                // pole hanging" earned as much as swinging up, so no candidate of generation 0
                // learned anything. Then it asks for each measured quantity "at rest" where the
                // env has that velocity: products, which mutation alone finds rarely.
                ops.extend(self.conjunction(&mut genome, &mut rng));
                for term in &mut genome.terms {
                    if let Some(gate) = self.gates.iter().find(|g| term.can_take(&g.shape) && self.is_rest_gate(term, g)) {
                        ops.push(self.apply_gate(term, gate, &mut rng));
                    }
                }
            } else if rng.random_bool(self.config.p_gate) {
                ops.extend(self.gate(&mut genome, &mut rng));
            }
            genome.terms.sort_by(|a, b| a.name.cmp(&b.name));
            let provenance = if ops.is_empty() { format!("template parent {i}") } else { format!("template parent {i}: {}", ops.join(", ")) };
            parents.push(genome.write(&provenance));
        }
        parents
    }

    /// The hint term over `var` where the success measure reads one component of it and it is a
    /// vec3 velocity: speed along that axis ([`Shape::Progress`]).
    fn progress_hint(&self, var: &str) -> Option<Term> {
        let i = self.model.spec().state.iter().position(|v| v.name == var)?;
        let vec3_velocity = self.model.state_types().get(i) == Some(&ValueType::Vec3) && self.model.state_unit(i).ends_with("/s");
        let axis = reads_component(&self.model.spec().fitness.expr, var).filter(|_| vec3_velocity)?;
        Some(Term::new(format!("{var}_{axis}"), Shape::Progress { var: var.to_owned(), axis }))
    }

    /// `k` children of `parents` (ranked, the best first; candidate i descends mainly from parent
    /// i mod the pool), each past the critic. The same parents and seed give the same scripts.
    pub fn children(&self, parents: &[String], k: usize, seed: u64) -> Result<Vec<Result<String, OfflineError>>, SimError> {
        Ok(self.children_with_parents(parents, &[], k, seed)?.into_iter().map(|c| c.map(|c| c.script)).collect())
    }

    /// As [`OfflineProposer::children`], reading each parent's outcome (in the order of
    /// `parents`; missing or None: unknown) for repairs, and with the parents each child descends
    /// from.
    pub fn children_with_parents(
        &self,
        parents: &[String],
        outcomes: &[Option<Outcome>],
        k: usize,
        seed: u64,
    ) -> Result<Vec<Result<Child, OfflineError>>, SimError> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let states = critic_states(&self.model, self.config.critic_states, CRITIC_SEED)?;
        let pool: Vec<Genome> = parents.iter().map(|p| Genome::read(p)).collect();
        let weights = es::weights(pool.len());
        // What each parent's reward looks like on the critic's states (None: it fails there).
        let parent_signatures: Vec<Option<Signature>> = parents.iter().map(|p| self.signature(p, &states).ok()).collect();
        Ok((0..k)
            .map(|i| {
                let first = i % pool.len().max(1);
                let mut last_error = String::from("no parents");
                // The child farthest from its parent so far, for when none is far enough.
                let mut closest_fallback: Option<(f64, Child)> = None;
                for _ in 0..self.config.max_attempts.max(1) {
                    let Some(parent) = pool.get(first) else { break };
                    let other_index = (pool.len() > 1).then(|| (first + rng.random_range(1..pool.len())) % pool.len());
                    let outcome = outcomes.get(first).and_then(Option::as_ref);
                    let (child, ops) = self.mutate(parent, other_index.map(|o| &pool[o]), outcome, (&pool, &weights), &mut rng);
                    // The crossover partner is a parent only when it was crossed over.
                    let crossed = ops.iter().any(|op| op == CROSSOVER);
                    let descent: Vec<usize> = std::iter::once(first).chain(other_index.filter(|_| crossed)).collect();
                    let script = child.write(&format!("offline proposer: seed {seed}, candidate {i}, parent {first}: {}", ops.join(", ")));
                    let signature = match self.signature(&script, &states) {
                        Ok(signature) => signature,
                        Err(e) => {
                            last_error = e;
                            continue;
                        }
                    };
                    let distance = parent_signatures[first].as_ref().map_or(f64::INFINITY, |p| p.distance(&signature));
                    if distance >= self.config.min_distance {
                        return Ok(Child { script, parents: descent });
                    }
                    // A near-copy would not be trained (the search deduplicates): mutate again.
                    if closest_fallback.as_ref().is_none_or(|(d, _)| distance > *d) {
                        closest_fallback = Some((distance, Child { script, parents: descent }));
                    }
                }
                closest_fallback.map(|(_, child)| child).ok_or(OfflineError { parent: first, attempts: self.config.max_attempts.max(1), last_error })
            })
            .collect())
    }

    /// A child of `parent` (and maybe `other`; `outcome` is the parent's, `ranked` every parent
    /// with its recombination weight) and the operators applied, in words.
    fn mutate(
        &self,
        parent: &Genome,
        other: Option<&Genome>,
        outcome: Option<&Outcome>,
        ranked: (&[Genome], &[f64]),
        rng: &mut ChaCha8Rng,
    ) -> (Genome, Vec<String>) {
        let cfg = &self.config;
        let mut child = parent.clone();
        let mut ops = Vec::new();
        if let Some(other) = other.filter(|_| rng.random_bool(cfg.p_crossover)) {
            // Uniform crossover over the union of both parents' terms (at least one kept).
            let mut union: Vec<Term> = parent.terms.clone();
            union.extend(other.terms.iter().filter(|t| !parent.terms.iter().any(|p| p.name == t.name)).cloned());
            let mut kept: Vec<Term> = union.iter().filter(|_| rng.random_bool(0.5)).cloned().collect();
            if kept.is_empty() {
                kept.push(union.choose(rng).expect("parents have terms").clone());
            }
            child.terms = kept;
            // By name: a function is the same foreign script, perhaps with other constants, and
            // the parent's version wins (two definitions of one name would not compile).
            child.functions.extend(other.functions.iter().filter(|f| !parent.functions.iter().any(|p| p.name == f.name)).cloned());
            ops.push(CROSSOVER.to_owned());
        }
        if let Steps::Es(es_config) = &cfg.steps {
            let (pool, weights) = ranked;
            let terms: Vec<&[Term]> = pool.iter().map(|g| g.terms.as_slice()).collect();
            let recombined = es::recombine(&mut child.terms, &terms, weights);
            let sigmas: Vec<Option<f64>> = pool.iter().map(|g| g.sigma).collect();
            child.sigma = Some(es::recombine_sigma(&sigmas, weights, es_config.initial_sigma));
            if recombined > 0 {
                ops.push(format!("recombine {recombined} parameters"));
            }
        }
        if let Some(outcome) = outcome.filter(|_| rng.random_bool(cfg.p_repair)) {
            let alive = self.library.iter().find(|t| matches!(t.shape, Shape::Alive));
            ops.extend(repair(&mut child.terms, outcome, alive));
        }
        if child.terms.len() > 1 && rng.random_bool(cfg.p_drop) {
            let gone = child.terms.remove(rng.random_range(0..child.terms.len()));
            ops.push(format!("drop {}", gone.name));
        }
        if rng.random_bool(cfg.p_add) {
            let fresh: Vec<&Term> = self.library.iter().filter(|t| !child.terms.iter().any(|c| c.name == t.name)).collect();
            if let Some(term) = fresh.choose(rng) {
                child.terms.push((*term).clone());
                ops.push(format!("add {}", term.name));
            }
        }
        if rng.random_bool(cfg.p_gate) {
            ops.extend(self.gate(&mut child, rng));
        }
        // Only functions some term still calls: the log must not name a perturbed function the
        // child then drops.
        child.prune_functions();
        if !child.functions.is_empty() && rng.random_bool(cfg.p_literal) {
            let f = rng.random_range(0..child.functions.len());
            let embedded = &mut child.functions[f];
            if let Some(op) = perturb_literal(&mut embedded.source, cfg.sigma, rng) {
                ops.push(format!("{op} in {}", embedded.name));
            }
        }
        match &cfg.steps {
            Steps::Es(es_config) => {
                let sigma = es::mutate_sigma(child.sigma.unwrap_or(es_config.initial_sigma), es::dimension(&child.terms), es_config, rng);
                let sigma = round_significant(sigma, SIGNIFICANT_DIGITS);
                child.sigma = Some(sigma);
                es::perturb(&mut child.terms, sigma, SIGNIFICANT_DIGITS, rng);
                ops.push(format!("step σ {sigma}"));
            }
            Steps::Fixed => ops.push(self.perturb_one(&mut child, rng)),
        }
        // A canonical order, so the same genome always renders to the same script.
        child.terms.sort_by(|a, b| a.name.cmp(&b.name));
        (child, ops)
    }

    /// Moves one parameter of `child` by the fixed σ (a log-normal factor; a normal shift for a
    /// target); returns what it did.
    fn perturb_one(&self, child: &mut Genome, rng: &mut ChaCha8Rng) -> String {
        let cfg = &self.config;
        let term = rng.random_range(0..child.terms.len());
        let param = rng.random_range(0..child.terms[term].params.len());
        let n = standard_normal(rng);
        let term = &mut child.terms[term];
        let (name, value) = &mut term.params[param];
        let moved = if name == "target" {
            *value + cfg.sigma * n
        } else {
            let scaled = *value * libm::exp(cfg.sigma * n);
            if name.ends_with("_floor") { scaled.min(MAX_GATE_FLOOR) } else { scaled }
        };
        *value = round_significant(moved, SIGNIFICANT_DIGITS);
        format!("{}_{name} → {}", term.name, crate::library::float_literal(*value))
    }

    /// Multiplies one term of `genome` that can take a gate by a random gate; half the time (when
    /// there is one) an "at rest" gate over the same body as the term, the pattern of
    /// dm_control's rewards (upright *and* not spinning, at the target *and* stopped there).
    /// Returns what it did (None: no term and gate fit together).
    fn gate(&self, genome: &mut Genome, rng: &mut ChaCha8Rng) -> Option<String> {
        let terms = &genome.terms;
        let pairs: Vec<(usize, &GateTemplate)> =
            (0..terms.len()).flat_map(|t| self.gates.iter().filter(move |g| terms[t].can_take(&g.shape)).map(move |g| (t, g))).collect();
        let at_rest: Vec<(usize, &GateTemplate)> = pairs.iter().copied().filter(|(t, g)| self.is_rest_gate(&terms[*t], g)).collect();
        let choice = if !at_rest.is_empty() && rng.random_bool(0.5) { at_rest.choose(rng) } else { pairs.choose(rng) };
        let (t, gate) = choice.copied()?;
        Some(self.apply_gate(&mut genome.terms[t], gate, rng))
    }

    /// Folds `genome`'s terms into one: the first term that can be gated by a shaping of each
    /// other term's variable (keeping a gate free for "at rest") takes those gates and the other
    /// terms go; nothing changes if no term can. Returns what it did.
    fn conjunction(&self, genome: &mut Genome, rng: &mut ChaCha8Rng) -> Vec<String> {
        for p in 0..genome.terms.len() {
            let gates: Option<Vec<&GateTemplate>> = (0..genome.terms.len())
                .filter(|&o| o != p)
                .map(|o| {
                    let var = term_variable(&genome.terms[o]);
                    self.gates.iter().find(|g| !g.at_rest && var.is_some() && shape_variable(&g.shape) == var && genome.terms[p].can_take(&g.shape))
                })
                .collect();
            let Some(gates) = gates.filter(|g| !g.is_empty() && g.len() < MAX_GATES) else { continue };
            let mut product = genome.terms[p].clone();
            let ops = gates.into_iter().map(|g| self.apply_gate(&mut product, g, rng)).collect();
            genome.terms = vec![product];
            return ops;
        }
        Vec::new()
    }

    /// Whether `gate` is `term` "at rest": a velocity's tracking towards 0 on a body the term's
    /// (position or orientation) variable describes.
    fn is_rest_gate(&self, term: &Term, gate: &GateTemplate) -> bool {
        gate.at_rest
            && matches!(term.shape, Shape::Upright { .. } | Shape::ExpShaping { .. })
            && term_variable(term).is_some_and(|var| !bodies_of(&self.model, var).is_disjoint(&gate.bodies))
    }

    /// Multiplies `term` by `gate`, its temperature log-uniform within a factor of 2 of the
    /// gate's scale; returns what it did.
    fn apply_gate(&self, term: &mut Term, gate: &GateTemplate, rng: &mut ChaCha8Rng) -> String {
        let tau = round_significant(gate.tau * libm::exp2(rng.random_range(-1.0..=1.0)), SIGNIFICANT_DIGITS);
        let before = term.name.clone();
        term.add_gate(gate.shape.clone(), tau);
        let var = shape_variable(&gate.shape).unwrap_or_default();
        format!("gate {before} by {var} (tau {})", crate::library::float_literal(tau))
    }

    /// The critic's check of `script`, and its reward's signature on the same states.
    fn signature(&self, script: &str, states: &[rewardsmith_script::State]) -> Result<Signature, String> {
        let compiled = self.model.compile_reward("offline.rhai", script).map_err(|e| e.to_string())?;
        // The search's own verdict, so that every child passes the search's critic.
        let spec = self.model.spec();
        let verdict = judge(&compiled, states, spec.training_steps(), spec.terminates());
        if let Some(error) = verdict.error {
            return Err(error);
        }
        Signature::of(&compiled, states).map_err(|e| e.to_string())
    }
}

/// The tokens of `source` with the byte offset each starts at, by Rhai's own tokenizer (so
/// comments and strings are told apart from code exactly as the engine does).
fn tokens(source: &str) -> Vec<(rhai::Token, usize)> {
    let engine = rhai::Engine::new_raw();
    let line_starts: Vec<usize> = std::iter::once(0).chain(source.match_indices('\n').map(|(i, _)| i + 1)).collect();
    let inputs = [source];
    let (stream, _) = engine.lex(&inputs);
    let mut out = Vec::new();
    // A token is at least one character: the bound only guards against a tokenizer that never
    // stops (it yields end-of-input forever rather than ending).
    for (token, pos) in stream.take(source.len() + 1) {
        if token == rhai::Token::EOF {
            break;
        }
        let (Some(line), Some(column)) = (pos.line(), pos.position()) else { continue };
        // Positions count characters from 1; turn them into a byte offset.
        let Some(start) = line_starts.get(line - 1) else { continue };
        let Some((offset, _)) = source[*start..].char_indices().nth(column - 1) else { continue };
        out.push((token, start + offset));
    }
    out
}

/// `source` with every function it defines renamed into namespace `name`: `compute_reward`
/// becomes `name`, any other `f` becomes `name_f`, at its definition and at every plain call
/// (`f(x)`; a script function called as a method gets its receiver as `this`, which foreign
/// reward scripts have no use for, so `x.f()` is left alone with the built-ins it may mean).
fn namespace_functions(source: &str, name: &str) -> String {
    let tokens = tokens(source);
    let defined: Vec<String> = tokens
        .windows(2)
        .filter_map(|w| match (&w[0].0, &w[1].0) {
            (rhai::Token::Fn, rhai::Token::Identifier(id)) => Some(id.to_string()),
            _ => None,
        })
        .collect();
    let mut out = String::with_capacity(source.len() + 64);
    let mut copied = 0;
    for (i, (token, start)) in tokens.iter().enumerate() {
        let rhai::Token::Identifier(id) = token else { continue };
        let id = id.as_str();
        // Only definitions and plain calls: `name(`, not after a `.` (a property such as
        // `s.pole_cos`, or a built-in method such as `v.norm()`, may share a helper's name).
        let called = matches!(tokens.get(i + 1), Some((rhai::Token::LeftParen, _)));
        let after_dot = i > 0 && matches!(tokens[i - 1].0, rhai::Token::Period);
        if !called || after_dot || !defined.iter().any(|d| d == id) || !source[*start..].starts_with(id) {
            continue;
        }
        out.push_str(&source[copied..*start]);
        if id == rewardsmith_script::REWARD_FN {
            out.push_str(name)
        } else {
            out.push_str(&format!("{name}_{id}"))
        }
        copied = start + id.len();
    }
    out.push_str(&source[copied..]);
    out
}

/// The non-zero float literals of `source` as (byte range, value).
fn float_literals(source: &str) -> Vec<(std::ops::Range<usize>, f64)> {
    tokens(source)
        .into_iter()
        .filter_map(|(token, start)| {
            let rhai::Token::FloatConstant(literal) = token else { return None };
            let (value, text) = (*literal.0, literal.1.as_str());
            (value != 0.0 && source[start..].starts_with(text)).then(|| (start..start + text.len(), value))
        })
        .collect()
}

/// Multiplies one non-zero float literal of `source` by a log-normal factor; returns what it did.
fn perturb_literal(source: &mut String, sigma: f64, rng: &mut ChaCha8Rng) -> Option<String> {
    let literals = float_literals(source);
    let (range, value) = literals.choose(rng)?.clone();
    let moved = round_significant(value * libm::exp(sigma * standard_normal(rng)), SIGNIFICANT_DIGITS);
    let text = crate::library::float_literal(moved);
    let op = format!("literal {} → {text}", &source[range.clone()]);
    source.replace_range(range, &text);
    Some(op)
}

/// Digits a perturbed parameter keeps: scripts (and the feedback quoting them) stay readable,
/// and finer steps than 1e-4 relative are noise for PPO anyway.
const SIGNIFICANT_DIGITS: i32 = 4;

/// The state variables the env's fitness expression reads (`s.<name>` as a whole word); none
/// when the measure is hidden from proposers.
fn fitness_variables(model: &EnvModel) -> Vec<String> {
    if model.spec().fitness.hidden {
        return Vec::new();
    }
    let expr = &model.spec().fitness.expr;
    model.spec().state.iter().map(|v| v.name.clone()).filter(|name| reads(expr, name)).collect()
}

/// The state variable a library term is built on (None: alive bonus, action penalty).
fn term_variable(term: &Term) -> Option<&str> {
    shape_variable(&term.shape)
}

/// The offline proposer as a [`Proposer`]: `ctx.parents` (generation 0's when empty) bred into
/// `k` children. It computes on the calling thread (critic checks take milliseconds per child),
/// so it needs no runtime of its own; its usage is zero.
impl Proposer for OfflineProposer {
    async fn propose(&self, ctx: &Context, k: usize, seed: u64) -> Result<Generation, ProposeError> {
        // Generation 0's parents are templates and sparse.rhai, not candidates: no descent.
        let (parents, known) = if ctx.parents.is_empty() { (self.generation_zero(seed), false) } else { (ctx.parents.clone(), true) };
        let candidates = self
            .children_with_parents(&parents, if known { &ctx.outcomes } else { &[] }, k, seed)?
            .into_iter()
            .map(|child| match child {
                Ok(c) => Candidate { script: Ok(c.script), reply: None, parents: if known { c.parents } else { Vec::new() } },
                Err(e) => Candidate { script: Err(CandidateError::Offline(e.to_string())), reply: None, parents: Vec::new() },
            })
            .collect();
        Ok(Generation { candidates, usage: Usage::default(), budget_exhausted: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rewardsmith_spec::catalog;

    fn proposer(id: &str) -> (OfflineProposer, String) {
        let model = EnvModel::new(&catalog::resolve(id).unwrap()).unwrap();
        let sparse = catalog::reward_script(id, "sparse.rhai").unwrap().1.to_owned();
        (OfflineProposer::new(model, OfflineConfig::default()), sparse)
    }

    #[test]
    fn children_differ_from_their_parent_by_more_than_the_search_deduplicates() {
        let model = EnvModel::new(&catalog::resolve("pendulum").unwrap()).unwrap();
        let p = OfflineProposer::new(model.clone(), OfflineConfig::default());
        let states = critic_states(&model, CRITIC_SAMPLES, CRITIC_SEED).unwrap();
        let parent = p.initial_parents(None, 5).remove(0);
        let parent_signature = p.signature(&parent, &states).unwrap();
        for child in p.children(std::slice::from_ref(&parent), 8, 9).unwrap() {
            let distance = p.signature(&child.unwrap(), &states).unwrap().distance(&parent_signature);
            assert!(distance >= p.config.min_distance, "a near-copy: distance {distance}");
        }
    }

    #[test]
    fn every_template_parent_has_terms_even_where_the_measure_reads_no_variable() {
        let model = EnvModel::new(&catalog::resolve("cartpole").unwrap()).unwrap();
        let p = OfflineProposer::new(model, OfflineConfig::default());
        for parent in p.initial_parents(None, 1) {
            assert!(!Genome::read(&parent).terms.iter().any(|t| matches!(t.shape, Shape::Embedded { .. })), "{parent}");
        }
    }

    #[test]
    fn every_template_parent_shapes_a_variable_the_success_measure_reads() {
        let model = EnvModel::new(&catalog::resolve("cartpole-swingup").unwrap()).unwrap();
        assert_eq!(fitness_variables(&model), ["cart_position", "pole_cos"]);
        let p = OfflineProposer::new(model, OfflineConfig::default());
        for parent in p.initial_parents(None, 3) {
            let genome = Genome::read(&parent);
            let vars: Vec<&str> = genome.terms.iter().flat_map(|t| std::iter::once(&t.shape).chain(&t.gates)).filter_map(shape_variable).collect();
            assert!(vars.contains(&"cart_position") && vars.contains(&"pole_cos"), "{parent}");
        }
    }

    #[test]
    fn the_first_template_parent_is_the_success_measure_as_one_product_at_rest() {
        let (p, _) = proposer("cartpole-swingup");
        for seed in 0..4 {
            let genome = Genome::read(&p.initial_parents(None, seed).remove(0));
            // upright × centred × not spinning, and nothing else
            assert_eq!(genome.terms.len(), 1, "seed {seed}: {genome:?}");
            let upright = &genome.terms[0];
            assert_eq!(upright.shape, Shape::Upright { var: "pole_cos".into() });
            assert_eq!(
                upright.gates,
                [Shape::ExpShaping { var: "cart_position".into(), vector: false }, Shape::Tracking { var: "pole_angular_velocity".into() }],
                "seed {seed}"
            );
            let (_, tau) = upright.params.iter().find(|(k, _)| k == "g2_tau").unwrap();
            assert!((12.5..=50.0).contains(tau), "within a factor of 2 of 5² (rad/s)²: {tau}");
        }
        // One measured variable: its term alone (a cosine that may go negative takes no gate).
        let (p, _) = proposer("pendulum");
        let genome = Genome::read(&p.initial_parents(None, 0).remove(0));
        assert_eq!(genome.terms.len(), 1, "{genome:?}");
        assert_eq!(term_variable(&genome.terms[0]), Some("pole_cos"));
    }

    #[test]
    fn where_the_measure_reads_a_velocity_component_every_template_parent_rewards_that_speed() {
        // ant's measure is forward speed while upright: the penalty, the one random template over
        // a vec3 velocity, would teach it to stand still.
        let (p, _) = proposer("ant");
        for parent in p.initial_parents(None, 2) {
            let genome = Genome::read(&parent);
            assert!(genome.terms.iter().any(|t| t.shape == Shape::Progress { var: "velocity".into(), axis: 'x' }), "{parent}");
            assert!(parent.contains("* s.velocity.x"), "{parent}");
            assert!(!genome.terms.iter().any(|t| matches!(&t.shape, Shape::SquaredPenalty { var, .. } if var == "velocity")), "{parent}");
        }
    }

    #[test]
    fn the_same_parents_and_seed_give_the_same_candidates() {
        let (p, sparse) = proposer("pendulum");
        let parents = p.initial_parents(Some(&sparse), 3);
        assert_eq!(parents, p.initial_parents(Some(&sparse), 3));
        let a = p.children(&parents, 6, 11).unwrap();
        assert_eq!(a, p.children(&parents, 6, 11).unwrap());
        assert_ne!(a, p.children(&parents, 6, 12).unwrap(), "another seed, other children");
    }

    #[test]
    fn a_hidden_success_measure_gives_no_sparse_parent_and_no_hints() {
        let (p, sparse) = proposer("pendulum");
        assert_eq!(p.generation_zero(3)[0], sparse, "shown: sparse.rhai leads generation 0");
        assert_eq!(fitness_variables(&p.model), ["pole_cos"]);
        let mut loaded = catalog::resolve("pendulum").unwrap();
        loaded.spec.fitness.hidden = true;
        let hidden = OfflineProposer::new(EnvModel::new(&loaded).unwrap(), OfflineConfig::default());
        assert!(fitness_variables(&hidden.model).is_empty());
        let parents = hidden.generation_zero(3);
        assert!(!parents.is_empty() && parents.iter().all(|p| !p.contains("s.pole_cos > 0.95")), "{parents:?}");
    }

    #[test]
    fn each_child_names_its_parent_and_its_crossover_partner_only_when_crossed() {
        let (p, sparse) = proposer("cartpole");
        let parents = p.initial_parents(Some(&sparse), 4);
        let children = p.children_with_parents(&parents, &[], 12, 5).unwrap();
        let mut crossed = 0;
        for (i, child) in children.iter().enumerate() {
            let child = child.as_ref().unwrap();
            assert_eq!(child.parents[0], i % parents.len(), "child {i}: its main parent");
            let says_crossover = child.script.contains(&format!("parent {}: {CROSSOVER}", i % parents.len()));
            assert_eq!(child.parents.len() == 2, says_crossover, "child {i}: partner recorded iff crossed over: {:?}", child.parents);
            if let [main, partner] = child.parents[..] {
                assert_ne!(main, partner);
                crossed += 1;
            }
        }
        assert!(crossed > 0, "p_crossover 0.3 over 12 children: some cross");
    }

    #[test]
    fn every_candidate_passes_the_critic_on_every_builtin_env_over_generations() {
        for id in catalog::ids() {
            let (p, sparse) = proposer(id);
            let mut parents = p.initial_parents(Some(&sparse), 1);
            for generation in 0..3 {
                let children: Vec<String> = p
                    .children(&parents, 6, generation)
                    .unwrap()
                    .into_iter()
                    .map(|c| c.unwrap_or_else(|e| panic!("{id} generation {generation}: {e}")))
                    .collect();
                let (other_states, search_states) = (critic_states(&p.model, 64, 99).unwrap(), critic_states(&p.model, CRITIC_SAMPLES, CRITIC_SEED).unwrap());
                for child in &children {
                    let script = p.model.compile_reward("child.rhai", child).unwrap();
                    rewardsmith_script::review(&script, &other_states).unwrap_or_else(|e| panic!("{id}: {e}\n{child}"));
                    // The search's verdict on its own states: what the search will say of it.
                    let verdict = judge(&script, &search_states, p.model.spec().training_steps(), p.model.spec().terminates());
                    assert!(verdict.ok, "{id}: {:?}\n{child}", verdict.error);
                }
                parents = children;
            }
        }
    }

    #[test]
    fn a_written_genome_reads_back_exactly_and_a_foreign_script_becomes_one_embedded_term() {
        let (p, sparse) = proposer("reacher");
        let foreign = Genome::read(&sparse);
        assert_eq!(foreign.terms.len(), 1);
        assert!(matches!(foreign.terms[0].shape, Shape::Embedded { .. }));
        let child = p.children(std::slice::from_ref(&sparse), 1, 5).unwrap().remove(0).unwrap();
        let genome = Genome::read(&child);
        assert_eq!(Genome::read(&genome.write("again")), genome);
        assert!(child.contains(sparse.lines().last().unwrap_or("}")), "the foreign script is embedded whole");

        // Its own constants evolve too (reacher's sparse.rhai has two non-zero ones, the 2 cm
        // radius and the bonus; this seed moves the radius). A library term is added as well:
        // sparse.rhai alone is zero on every critic state, which the critic refuses.
        let p = OfflineProposer { config: OfflineConfig { p_literal: 1.0, p_add: 1.0, ..OfflineConfig::default() }, ..p };
        let child = p.children(std::slice::from_ref(&sparse), 1, 6).unwrap().remove(0).unwrap();
        assert!(!child.contains("< 0.02 {") && child.contains("literal 0.02 → "), "{child}");
    }

    #[test]
    fn literals_of_a_foreign_script_are_found_by_rhais_tokenizer_and_perturbed_in_place() {
        let source = "// 9.5 in a comment\nfn f(s) {\n    let t = \"2.5\";\n    if s.x > 0.95 { 1.0 } else { 0.0 }\n}\n";
        let found: Vec<(String, f64)> = float_literals(source).into_iter().map(|(r, v)| (source[r].to_owned(), v)).collect();
        assert_eq!(found, vec![("0.95".to_owned(), 0.95), ("1.0".to_owned(), 1.0)], "not in comments or strings, not zero");
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut changed = source.to_owned();
        let op = perturb_literal(&mut changed, 0.5, &mut rng).unwrap();
        assert_ne!(changed, source);
        assert_eq!(changed.lines().count(), source.lines().count());
        assert!(op.starts_with("literal 0.95 → ") || op.starts_with("literal 1.0 → "), "{op}");
    }

    #[test]
    fn foreign_functions_are_renamed_into_their_namespace_with_their_calls_and_not_in_comments() {
        let foreign = "// fn compute_reward(s) is below\nfn clip(x) { clamp(x, -1.0, 1.0) }\nfn compute_reward(s) {\n    let t = \"clip\";\n    clip(s.x) + s.x.clip()\n}\n";
        assert_eq!(
            namespace_functions(foreign, "e1"),
            "// fn compute_reward(s) is below\nfn e1_clip(x) { clamp(x, -1.0, 1.0) }\nfn e1(s) {\n    let t = \"clip\";\n    e1_clip(s.x) + s.x.clip()\n}\n"
        );
        // Two foreign scripts with the same helper name live side by side. (A script function
        // called as a method gets its receiver as `this`, so the runnable version calls it plainly.)
        let foreign = foreign.replace(" + s.x.clip()", "");
        let (p, _) = proposer("pendulum");
        let other = foreign.replace("1.0, 1.0", "2.0, 2.0").replace("s.x", "s.pole_cos");
        let one = foreign.replace("s.x", "s.pole_cos");
        let a = Genome::read(&one).write("a");
        let b = Genome::read(&other).write("b");
        let p = OfflineProposer { config: OfflineConfig { p_crossover: 1.0, ..OfflineConfig::default() }, ..p };
        for c in p.children(&[a, b], 6, 1).unwrap() {
            c.unwrap();
        }
    }

    #[test]
    fn a_genome_line_that_is_incomplete_or_no_longer_matches_the_code_is_not_trusted() {
        let (p, sparse) = proposer("pendulum");
        let child = p.children(std::slice::from_ref(&sparse), 1, 2).unwrap().remove(0).unwrap();
        // Edited by hand below the genome line: read as a foreign script, edit kept.
        let edited = child.replacen("fn compute_reward(s) {", "fn compute_reward(s) {\n    let edited = 0.5;", 1);
        assert_ne!(edited, child);
        let read = Genome::read(&edited);
        assert_eq!(read.terms.len(), 1);
        assert!(read.functions[0].source.contains("let edited = 0.5;"), "the edit survives");
        // A marker with no terms (or no parameters) must not reach the operators.
        for broken in [r#"{"terms":[],"functions":[]}"#, r#"{"terms":[{"name":"a","shape":"Alive","params":[]}],"functions":[]}"#] {
            let script = format!("{GENOME_MARKER}{broken}\nfn compute_reward(s) {{ 1.0 }}\n");
            assert!(Genome::read(&script).is_whole());
            assert!(p.children(&[script], 2, 1).unwrap().iter().all(Result::is_ok));
        }
    }

    #[test]
    fn helpers_named_like_state_variables_or_methods_keep_those_working() {
        let (p, _) = proposer("pendulum");
        let foreign = "fn pole_cos(s) { s.pole_cos }\nfn norm(v) { v.norm() }\nfn compute_reward(s) { pole_cos(s) + norm(s.pole_tip) + s.pole_tip.norm() }\n";
        for c in p.children(&[foreign.to_owned()], 3, 1).unwrap() {
            c.unwrap();
        }
    }

    #[test]
    fn perturbed_parameters_keep_four_significant_digits() {
        assert_eq!(round_significant(1.466483181058865, 4), 1.466);
        assert_eq!(round_significant(-0.000123456, 4), -0.0001235);
        assert_eq!(round_significant(0.0, 4), 0.0);
    }

    #[test]
    fn crossover_mixes_terms_of_both_parents() {
        let (p, _) = proposer("cartpole-swingup");
        let lib = library(&p.model);
        let a = Genome { terms: lib[..2].to_vec(), functions: Vec::new(), sigma: None };
        let b = Genome { terms: lib[2..4].to_vec(), functions: Vec::new(), sigma: None };
        let p = OfflineProposer { config: OfflineConfig { p_crossover: 1.0, p_drop: 0.0, p_add: 0.0, ..OfflineConfig::default() }, ..p };
        let children = p.children(&[a.write("a"), b.write("b")], 20, 7).unwrap();
        let mixed = children.iter().filter(|c| {
            let g = Genome::read(c.as_ref().unwrap());
            let from = |parent: &Genome| g.terms.iter().any(|t| parent.terms.iter().any(|x| x.name == t.name));
            from(&a) && from(&b)
        });
        assert!(mixed.count() >= 5, "uniform crossover should often take terms from both parents");
    }

    #[test]
    fn a_parent_whose_episodes_mostly_end_early_has_children_paid_to_stay_alive() {
        use rewardsmith_propose::{Ending, TermTrace};
        let model = EnvModel::new(&catalog::resolve("ball-balance").unwrap()).unwrap();
        let config = OfflineConfig { p_repair: 1.0, p_drop: 0.0, p_crossover: 0.0, p_add: 0.0, p_gate: 0.0, ..OfflineConfig::default() };
        let p = OfflineProposer::new(model, config);
        let parent = p.initial_parents(None, 1).remove(0);
        let genome = Genome::read(&parent);
        assert!(genome.terms.iter().all(|t| t.name != "alive"), "the hint parent has no alive bonus: {parent}");
        let outcome = Outcome {
            terms: genome.terms.iter().map(|t| TermTrace { name: t.name.clone(), mean: vec![0.2, 0.5], min: vec![0.0, 0.1], max: vec![0.9, 1.0] }).collect(),
            endings: vec![Ending { termination: Some("ball_fell".into()), share: 0.9 }, Ending { termination: None, share: 0.1 }],
            ..Outcome::default()
        };
        let children = p.children_with_parents(std::slice::from_ref(&parent), &[Some(outcome)], 4, 3).unwrap();
        for child in children {
            let child = child.unwrap();
            assert!(Genome::read(&child.script).terms.iter().any(|t| t.name == "alive"), "{}", child.script);
            assert!(child.script.contains("most episodes ended by `ball_fell`"), "the repair is in the provenance: {}", child.script);
        }
        // Without an outcome (or with repairs off) the same children have no reason to add it.
        let blind = p.children_with_parents(std::slice::from_ref(&parent), &[], 4, 3).unwrap();
        assert!(blind.iter().all(|c| !c.as_ref().unwrap().script.contains("most episodes ended")));
    }

    #[test]
    fn children_carry_a_self_adapted_step_size_that_their_own_children_inherit() {
        let (p, sparse) = proposer("pendulum");
        let parents = p.initial_parents(Some(&sparse), 2);
        let children: Vec<String> = p.children(&parents, 6, 4).unwrap().into_iter().map(Result::unwrap).collect();
        let sigmas: Vec<f64> = children.iter().map(|c| Genome::read(c).sigma.expect("an ES child has a step size")).collect();
        assert!(sigmas.windows(2).any(|w| w[0] != w[1]), "step sizes are mutated per child: {sigmas:?}");
        let grandchild = p.children(&children[..1], 1, 5).unwrap().remove(0).unwrap();
        let (parent_sigma, sigma) = (sigmas[0], Genome::read(&grandchild).sigma.unwrap());
        assert!(sigma != parent_sigma && (sigma / parent_sigma).ln().abs() < 2.0, "σ {sigma} is a mutation of the parent's {parent_sigma}");
        let fixed = OfflineProposer::new(p.model.clone(), OfflineConfig { steps: Steps::Fixed, ..OfflineConfig::default() });
        assert!(fixed.children(&parents, 2, 4).unwrap().iter().all(|c| Genome::read(c.as_ref().unwrap()).sigma.is_none()));
    }
}
