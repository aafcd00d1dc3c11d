//! The search's settings: one documented struct, written resolved to `run.toml`.

use serde::{Deserialize, Serialize};

/// How a generation's candidates are judged for the next prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackMode {
    /// Eureka: the best candidate by evaluated fitness, with its reward-term statistics.
    Fitness,
    /// ICPL's synthetic preferences: candidates ranked by fitness plus Gaussian noise of σ
    /// `pref_noise`; the feedback shows the preferred (best) and the rejected (worst) one.
    Synthetic,
    /// ICPL: a person ranks the candidates' evaluation rollouts (`rewardsmith rank` or the
    /// viewer); the feedback shows the preferred and the rejected one, and no fitness.
    Human,
    /// HERON: a person orders signals by importance ([`SearchConfig::hierarchy`]) once, instead
    /// of ranking every generation; candidates are compared on the first signal, and the next
    /// one decides only where they are within [`SearchConfig::hierarchy_margin`] of each other.
    Hierarchy,
    /// A vision-language model ranks the candidates' evaluation episodes, shown as pictures
    /// (`search --feedback vlm`): the ranking is written and used as a person's would be; a
    /// judge that gives none leaves the generation ranked by fitness, recorded.
    Vlm,
}

/// A ground-truth measure given for a new task (`--fitness EXPR`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FitnessOverride {
    /// A Rhai numeric expression over `s`, evaluated after every step (as the env file's).
    pub expr: String,
    /// How the per-step values combine over an episode.
    pub aggregate: rewardsmith_spec::Aggregate,
}

impl FitnessOverride {
    /// `loaded` with this measure instead of its own. The hash changes with it, so a cache
    /// entry or a resumed run never mixes the two measures.
    pub fn apply(&self, loaded: &mut rewardsmith_spec::LoadedSpec) {
        use sha2::{Digest, Sha256};
        let fitness = &mut loaded.spec.fitness;
        fitness.expr = self.expr.clone();
        fitness.aggregate = self.aggregate;
        let aggregate = format!("{:?}", self.aggregate).to_lowercase();
        fitness.doc = format!("the user's measure `{}`, {aggregate} over the episode", self.expr);
        let key = format!("{}\nfitness: {} ({:?})", loaded.hash, self.expr, self.aggregate);
        loaded.hash = Sha256::digest(key.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    }
}

/// Settings of one search. Every seed is derived from `seed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchConfig {
    /// Candidates per generation. Default 4.
    pub k: usize,
    /// Generations. Default 3.
    pub generations: usize,
    /// Environment steps of each candidate's training. Default: the env's `[ppo]`
    /// `total_steps` (None here).
    pub steps: Option<u64>,
    /// Evaluation seeds per candidate: fitness is the mean over seeds of the mean over
    /// `eval_episodes` episodes. Default 3.
    pub eval_seeds: usize,
    /// Episodes per evaluation seed. Default 5.
    pub eval_episodes: usize,
    /// Master seed. Default 0.
    pub seed: u64,
    /// How candidates are judged for feedback. Default fitness.
    pub feedback: FeedbackMode,
    /// σ of the noise added to fitness before ranking in synthetic mode (fitness units).
    /// Default 0.
    pub pref_noise: f64,
    /// Rounds of resampling to replace candidates the critic rejects (each asks for as many as
    /// were rejected). Default 2.
    pub resample_rounds: usize,
    /// Distance (RMS of standardised rewards on shared states, 0 to 2) below which a candidate
    /// counts as a duplicate of one already trained and is not trained again. Default 0.01
    /// (a correlation of 0.99995 between the two rewards on the shared states).
    pub dedup_epsilon: f64,
    /// Trainings run at once; 0 = as many as cores, at most K, and on a CUDA device no more than
    /// fit in its free memory. Default 0.
    pub jobs: usize,
    /// Cores to use in all; 0 = all available. Each training gets `threads / jobs` of them
    /// (results do not depend on it). Default 0.
    pub threads: usize,
    /// Wall-clock limit of one training in seconds; a training past it is a failed candidate.
    /// None = no limit. Default None. A limit that fires makes the search depend on the machine's
    /// speed and load (the only setting that does).
    pub train_timeout_s: Option<f64>,
    /// Checkpoints of reward-term statistics in the feedback. Default 10.
    pub checkpoints: usize,
    /// The task text (None: the env file's task).
    pub task: Option<String>,
    /// A ground-truth measure replacing the env file's (for a new task), or None.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fitness: Option<FitnessOverride>,
    /// Eureka's protocol: the proposer never sees the success measure's formula or its
    /// description (nor, offline, `sparse.rhai` or hints from it), only the fitness values its
    /// rewards earned. Default false. (Missing from a run.toml written before it existed: false.)
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hide_fitness_expr: bool,
    /// A text file of notes for the next prompts (Text2Reward), read after each generation, so
    /// a person may edit it while the search runs; what was read is kept as `gen-NN/notes.md`
    /// and a resumed run reuses that. None: no file. (Missing from a run.toml written before
    /// it existed: None.) The offline proposer reads no text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<std::path::PathBuf>,
    /// With `feedback = "hierarchy"`: Rhai numeric expressions over `s`, most important first,
    /// each evaluated after every step of the evaluation episodes and averaged over them (as a
    /// `--fitness` with the mean aggregate); higher is better. (Missing from a run.toml written
    /// before it existed: empty.)
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hierarchy: Vec<String>,
    /// Within what share of a level's spread over the generation's candidates (largest − smallest
    /// value) two candidates count as alike on it, so that the next level decides. Default 0.1.
    #[serde(default = "default_hierarchy_margin")]
    pub hierarchy_margin: f64,
    /// Seconds to wait for a human ranking before ranking by fitness instead (recorded as such);
    /// None waits as long as it takes. Default None.
    pub rank_timeout_s: Option<f64>,
    /// The vision model that ranks with `feedback = "vlm"` (`--vlm-model`), recorded so a
    /// resumed run asks the same one. Default None.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlm_model: Option<String>,
    /// Training seeds of the final evaluation (the best reward, `human.rhai` and `sparse.rhai`,
    /// each retrained with the search's budget); 0 skips it. Default 5.
    pub final_seeds: usize,
    /// Candidates (the best by selection fitness, all generations) retrained on more seeds
    /// before the winner is picked: one training per candidate picks lucky seeds as often as good
    /// rewards (BENCHMARKS.md). 0 or 1 picks the best single training. Default 3. (Missing from
    /// a run.toml written before it existed: 0, as those runs did.)
    #[serde(default)]
    pub confirm_top: usize,
    /// Extra training seeds for each of those; the winner has the best mean over its 1 +
    /// `confirm_seeds` trainings. Default 2.
    #[serde(default)]
    pub confirm_seeds: usize,
}

impl Default for SearchConfig {
    fn default() -> Self {
        Self {
            k: 4,
            generations: 3,
            steps: None,
            eval_seeds: 3,
            eval_episodes: 5,
            seed: 0,
            feedback: FeedbackMode::Fitness,
            pref_noise: 0.0,
            resample_rounds: 2,
            dedup_epsilon: 0.01,
            jobs: 0,
            threads: 0,
            train_timeout_s: None,
            checkpoints: 10,
            task: None,
            fitness: None,
            rank_timeout_s: None,
            vlm_model: None,
            notes: None,
            hide_fitness_expr: false,
            hierarchy: Vec::new(),
            hierarchy_margin: default_hierarchy_margin(),
            final_seeds: 5,
            confirm_top: 3,
            confirm_seeds: 2,
        }
    }
}

fn default_hierarchy_margin() -> f64 {
    0.1
}

impl SearchConfig {
    /// Checks the values a run cannot work with, naming the field.
    pub fn validate(&self) -> Result<(), String> {
        if (self.feedback == FeedbackMode::Hierarchy) == self.hierarchy.is_empty() {
            return Err("`hierarchy` (--hierarchy EXPR, most important first) goes with feedback = \"hierarchy\", and that mode needs at least one".to_owned());
        }
        if (self.feedback == FeedbackMode::Vlm) != self.vlm_model.is_some() {
            return Err("`vlm_model` (--vlm-model) goes with feedback = \"vlm\", and that mode needs one".to_owned());
        }
        if !(self.hierarchy_margin.is_finite() && (0.0..=1.0).contains(&self.hierarchy_margin)) {
            return Err(format!("`hierarchy_margin` must be in [0, 1], not {}", self.hierarchy_margin));
        }
        let positive = [("k", self.k), ("generations", self.generations), ("eval_seeds", self.eval_seeds), ("eval_episodes", self.eval_episodes)];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(format!("`{name}` must be at least 1"));
        }
        if self.steps == Some(0) {
            return Err("`steps` must be at least 1".to_owned());
        }
        if !(self.pref_noise.is_finite() && self.pref_noise >= 0.0) {
            return Err(format!("`pref_noise` must be ≥ 0, not {}", self.pref_noise));
        }
        if self.pref_noise > 0.0 && self.feedback != FeedbackMode::Synthetic {
            return Err("`pref_noise` applies to synthetic feedback only".to_owned());
        }
        if self.resample_rounds >= 64 {
            return Err(format!("`resample_rounds` must be below 64, not {}", self.resample_rounds));
        }
        if !(self.dedup_epsilon.is_finite() && self.dedup_epsilon >= 0.0) {
            return Err(format!("`dedup_epsilon` must be ≥ 0, not {}", self.dedup_epsilon));
        }
        if let Some(t) = self.rank_timeout_s.filter(|t| !(t.is_finite() && *t >= 0.0)) {
            return Err(format!("`rank_timeout_s` must be ≥ 0, not {t}"));
        }
        if let Some(t) = self.train_timeout_s.filter(|t| !(t.is_finite() && *t > 0.0)) {
            return Err(format!("`train_timeout_s` must be > 0, not {t}"));
        }
        Ok(())
    }
}
