//! What training and evaluating a candidate showed, as numbers: the data behind the reflection
//! text an LLM reads (`gen-NN/feedback.md`), for a proposer that reads data instead.

/// One trained candidate's outcome.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// Its evaluated fitness (the env's success measure, mean over evaluation seeds). None where
    /// the proposer is not shown fitness: in the preference modes it sees only the judged order.
    pub fitness: Option<f64>,
    /// Each reward term over training, at the training checkpoints.
    pub terms: Vec<TermTrace>,
    /// The fitness measured at each checkpoint (as long as each term's trace; None where it was
    /// not measured or is not shown).
    pub fitness_curve: Vec<Option<f64>>,
    /// How its evaluation episodes ended, the most common first.
    pub endings: Vec<Ending>,
    /// Whether the reward-hacking alarm rang: over the last checkpoints the return rose while the
    /// fitness fell (never set where fitness is not shown).
    pub hacking: bool,
}

/// One reward term over training: per checkpoint, its mean, min and max over that iteration's
/// steps, in the reward's own units per step.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TermTrace {
    /// The term's key in the returned map.
    pub name: String,
    /// Mean per checkpoint.
    pub mean: Vec<f64>,
    /// Minimum per checkpoint.
    pub min: Vec<f64>,
    /// Maximum per checkpoint.
    pub max: Vec<f64>,
}

/// A share of the evaluation episodes that ended the same way.
#[derive(Debug, Clone, PartialEq)]
pub struct Ending {
    /// The termination condition that ended them; None: they ran to the time limit.
    pub termination: Option<String>,
    /// Their share of all evaluation episodes, in [0, 1].
    pub share: f64,
}

impl Outcome {
    /// The termination that ended more than `share` of the evaluation episodes, if one did.
    pub fn dominant_termination(&self, share: f64) -> Option<&str> {
        self.endings.iter().find(|e| e.termination.is_some() && e.share > share).and_then(|e| e.termination.as_deref())
    }
}
