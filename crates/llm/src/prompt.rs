//! Prompts: templates in files (shipped in `crates/llm/prompts/`, embedded at build time,
//! overridable file by file with a directory), filled with the environment's typed description,
//! the task, the feedback of earlier generations and the sandbox's limits.
//!
//! The vision ranker's prompt comes from templates of its own (`judge_*.md`), overridable the same
//! way.
//!
//! A template is text with `{{name}}` placeholders. Every placeholder must be one this module
//! fills, so a typo in an edited template is an error naming the file, not a prompt that silently
//! says `{{tsak}}` to the LLM.

use rewardsmith_script::SandboxLimits;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The template files, by name, with their embedded defaults.
const EMBEDDED: [(&str, &str); 9] = [
    ("system.md", include_str!("../prompts/system.md")),
    ("user.md", include_str!("../prompts/user.md")),
    ("reward_api.md", include_str!("../prompts/reward_api.md")),
    ("feedback.md", include_str!("../prompts/feedback.md")),
    ("output_format.md", include_str!("../prompts/output_format.md")),
    ("judge_system.md", include_str!("../prompts/judge_system.md")),
    ("judge_user.md", include_str!("../prompts/judge_user.md")),
    ("judge_answer.md", include_str!("../prompts/judge_answer.md")),
    ("judge_retry.md", include_str!("../prompts/judge_retry.md")),
];

/// A prompt that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    /// The override directory or one of its files cannot be read.
    #[error("cannot read {}: {message}", path.display())]
    Io {
        /// The directory or file.
        path: PathBuf,
        /// The operating system's message.
        message: String,
    },
    /// A file in the override directory is not one of the templates (a typo would otherwise be
    /// ignored and the embedded template used).
    #[error("{}: not a prompt template (expected one of {expected})", path.display())]
    UnknownTemplate {
        /// The file.
        path: PathBuf,
        /// The template names.
        expected: String,
    },
    /// A template uses a placeholder this module does not fill, or leaves `{{` open.
    #[error("{template}: {message}")]
    Placeholder {
        /// Where the template came from (embedded name or override path).
        template: String,
        /// What is wrong, naming the placeholder.
        message: String,
    },
}

/// What a prompt is built from.
#[derive(Debug, Clone, Copy)]
pub struct PromptContext<'a> {
    /// The environment's typed description, as `rewardsmith envs ID` prints it.
    pub env: &'a str,
    /// The task in words (the env's default task or the user's `--task`).
    pub task: &'a str,
    /// What the search says about earlier candidates; None in generation 0.
    pub feedback: Option<&'a str>,
    /// The sandbox limits scripts run under (stated in the prompt so they stay true).
    pub limits: &'a SandboxLimits,
}

/// A chat prompt: the system message and the user message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    /// The role (system message).
    pub system: String,
    /// Everything else (user message).
    pub user: String,
}

/// What a vision judge is told; its pictures go between [`JudgePrompt::intro`] and
/// [`JudgePrompt::answer`], each after a line naming its candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JudgePrompt {
    /// The role (system message).
    pub system: String,
    /// The task and what the pictures are.
    pub intro: String,
    /// How to answer.
    pub answer: String,
}

/// One template's text and where it came from.
#[derive(Debug, Clone)]
struct Template {
    origin: String,
    text: String,
}

/// The prompt templates in use.
#[derive(Debug, Clone)]
pub struct Templates {
    by_name: BTreeMap<&'static str, Template>,
}

impl From<PromptError> for rewardsmith_propose::ProposeError {
    fn from(e: PromptError) -> Self {
        Self::Prompt(e.to_string())
    }
}

impl Templates {
    /// The templates shipped with rewardsmith.
    pub fn embedded() -> Self {
        let by_name = EMBEDDED.iter().map(|(name, text)| (*name, Template { origin: format!("{name} (embedded)"), text: (*text).to_owned() })).collect();
        Self { by_name }
    }

    /// The embedded templates, with each file of `dir` named like one of them (`system.md`,
    /// `user.md`, `reward_api.md`, `feedback.md`, `output_format.md`, and the vision judge's
    /// `judge_system.md`, `judge_user.md`, `judge_answer.md`, `judge_retry.md`) replacing it.
    /// Other `.md` files are an error; other files are ignored.
    pub fn with_overrides(dir: &Path) -> Result<Self, PromptError> {
        let io = |path: &Path, e: std::io::Error| PromptError::Io { path: path.to_owned(), message: e.to_string() };
        let mut templates = Self::embedded();
        let mut entries: Vec<PathBuf> =
            std::fs::read_dir(dir).map_err(|e| io(dir, e))?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>().map_err(|e| io(dir, e))?;
        entries.sort();
        for path in entries {
            if path.extension().and_then(|e| e.to_str()) != Some("md") {
                continue;
            }
            let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let Some((name, _)) = EMBEDDED.iter().find(|(name, _)| *name == file_name) else {
                let expected = EMBEDDED.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ");
                return Err(PromptError::UnknownTemplate { path, expected });
            };
            let text = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
            templates.by_name.insert(name, Template { origin: path.display().to_string(), text });
        }
        Ok(templates)
    }

    /// The prompt a proposer sends for `ctx`: `env` is the env's prompt description
    /// (`EnvModel::describe_for_prompt`), the limits are the sandbox's defaults, under which
    /// candidates run.
    pub fn render_for(&self, env: &str, ctx: &rewardsmith_propose::Context) -> Result<Prompt, PromptError> {
        let limits = SandboxLimits::default();
        self.render(&PromptContext { env, task: &ctx.task, feedback: ctx.feedback.as_deref(), limits: &limits })
    }

    /// The prompt for `ctx`.
    pub fn render(&self, ctx: &PromptContext<'_>) -> Result<Prompt, PromptError> {
        let limits = ctx.limits;
        let reward_api = self.fill(
            "reward_api.md",
            &[
                ("max_operations", limits.max_operations.to_string()),
                ("max_map_size", limits.max_map_size.to_string()),
                ("max_functions", limits.max_functions.to_string()),
                ("max_call_levels", limits.max_call_levels.to_string()),
            ],
        )?;
        let feedback = match ctx.feedback {
            Some(text) => self.fill("feedback.md", &[("feedback_text", text.trim().to_owned())])?,
            None => String::new(),
        };
        let output_format = self.fill("output_format.md", &[])?;
        let user = self.fill(
            "user.md",
            &[
                ("reward_api", reward_api.trim().to_owned()),
                ("env", ctx.env.trim().to_owned()),
                ("task", ctx.task.trim().to_owned()),
                ("feedback", feedback.trim_end().to_owned()),
                ("output_format", output_format.trim().to_owned()),
            ],
        )?;
        let system = self.fill("system.md", &[])?;
        Ok(Prompt { system: system.trim().to_owned(), user: tidy(&user) })
    }

    /// What a vision judge is asked about `task` and the candidates `names` (in the order their
    /// pictures are shown).
    pub fn render_judge(&self, task: &str, names: &[String]) -> Result<JudgePrompt, PromptError> {
        let values = [("task", task.trim().to_owned()), ("count", names.len().to_string()), ("names", names.join(", "))];
        Ok(JudgePrompt {
            system: self.fill("judge_system.md", &[])?.trim().to_owned(),
            intro: tidy(&self.fill("judge_user.md", &values)?).trim_end().to_owned(),
            answer: tidy(&self.fill("judge_answer.md", &values)?).trim_end().to_owned(),
        })
    }

    /// What a vision judge is told when its answer could not be used because of `error`.
    pub fn render_judge_retry(&self, error: &str, names: &[String]) -> Result<String, PromptError> {
        let retry = self.fill("judge_retry.md", &[("error", error.trim().to_owned()), ("names", names.join(", "))])?;
        Ok(tidy(&retry).trim_end().to_owned())
    }

    /// The template `name` with its placeholders replaced by `values`.
    fn fill(&self, name: &str, values: &[(&str, String)]) -> Result<String, PromptError> {
        let template = &self.by_name[name];
        let err = |message: String| PromptError::Placeholder { template: template.origin.clone(), message };
        let mut out = String::with_capacity(template.text.len());
        let mut rest = template.text.as_str();
        while let Some(open) = rest.find("{{") {
            out.push_str(&rest[..open]);
            let after = &rest[open + 2..];
            let close = after.find("}}").ok_or_else(|| err("`{{` is never closed".into()))?;
            let key = after[..close].trim();
            let (_, value) = values.iter().find(|(k, _)| *k == key).ok_or_else(|| {
                let known: Vec<String> = values.iter().map(|(k, _)| format!("{{{{{k}}}}}")).collect();
                let known = if known.is_empty() { "none".to_owned() } else { known.join(", ") };
                err(format!("unknown placeholder {{{{{key}}}}} (this template's placeholders: {known})"))
            })?;
            out.push_str(value);
            rest = &after[close + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// At most one blank line in a row and one final newline: empty optional sections (no feedback in
/// generation 0) must not leave holes in the prompt.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.trim().lines() {
        let line = line.trim_end();
        blank = if line.is_empty() { blank + 1 } else { 0 };
        if blank <= 1 {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx<'a>(limits: &'a SandboxLimits, feedback: Option<&'a str>) -> PromptContext<'a> {
        PromptContext { env: "environment toy\nstate variables (s.<name>):\n  s.height float m", task: "Jump high.", feedback, limits }
    }

    #[test]
    fn the_prompt_holds_the_api_env_task_and_output_format_and_states_the_real_limits() {
        let limits = SandboxLimits { max_operations: 12_345, ..SandboxLimits::default() };
        let p = Templates::embedded().render(&ctx(&limits, None)).unwrap();
        assert!(p.system.contains("reward engineer"));
        for needle in ["fn compute_reward(s)", "s.height float m", "Jump high.", "```rhai", "at most 12345 operations"] {
            assert!(p.user.contains(needle), "the prompt lacks {needle:?}:\n{}", p.user);
        }
        assert!(!p.user.contains("{{") && !p.user.contains("Feedback"), "generation 0 has no feedback section:\n{}", p.user);
        assert!(!p.user.contains("\n\n\n"), "no holes where a section is empty");
    }

    #[test]
    fn feedback_gets_its_own_section() {
        let limits = SandboxLimits::default();
        let p = Templates::embedded().render(&ctx(&limits, Some("candidate 2 reached fitness 0.4"))).unwrap();
        let feedback = p.user.find("## Feedback on earlier reward functions").expect("a feedback section");
        assert!(p.user[feedback..].contains("candidate 2 reached fitness 0.4"));
        assert!(feedback < p.user.find("## What to answer").unwrap(), "feedback comes before the output format");
    }

    #[test]
    fn the_judge_prompt_states_the_task_the_candidates_and_the_answer_form() {
        let names: Vec<String> = ["cand-00", "cand-01", "cand-02"].map(str::to_owned).to_vec();
        let p = Templates::embedded().render_judge("Keep the pole upright.", &names).unwrap();
        assert!(p.system.contains("rank"), "{}", p.system);
        for needle in ["Keep the pole upright.", "3 candidates", "cand-00, cand-01, cand-02", "same seed", "the time since the episode began"] {
            assert!(p.intro.contains(needle), "the intro lacks {needle:?}:\n{}", p.intro);
        }
        assert!(p.answer.contains("RANKING: <most preferred> >") && p.answer.contains("cand-00, cand-01, cand-02"), "{}", p.answer);
        let retry = Templates::embedded().render_judge_retry("the ranking leaves out cand-02", &names).unwrap();
        assert!(retry.starts_with("Your answer could not be used: the ranking leaves out cand-02. Answer again"), "{retry}");
        for text in [&p.system, &p.intro, &p.answer, &retry] {
            assert!(!text.contains("{{"), "{text}");
        }
    }

    #[test]
    fn an_override_replaces_one_template_and_a_typo_is_an_error_naming_the_file() {
        let dir = std::env::temp_dir().join(format!("rewardsmith-prompts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("system.md"), "You are terse.").unwrap();
        let limits = SandboxLimits::default();
        let p = Templates::with_overrides(&dir).unwrap().render(&ctx(&limits, None)).unwrap();
        assert_eq!(p.system, "You are terse.");
        assert!(p.user.contains("fn compute_reward(s)"), "the other templates stay embedded");

        std::fs::write(dir.join("user.md"), "{{tsak}}").unwrap();
        let e = Templates::with_overrides(&dir).unwrap().render(&ctx(&limits, None)).unwrap_err().to_string();
        assert!(e.contains("user.md") && e.contains("unknown placeholder {{tsak}}") && e.contains("{{task}}"), "{e}");
        std::fs::write(dir.join("user.md"), "{{task").unwrap();
        let e = Templates::with_overrides(&dir).unwrap().render(&ctx(&limits, None)).unwrap_err().to_string();
        assert!(e.contains("never closed"), "{e}");
        std::fs::remove_file(dir.join("user.md")).unwrap();

        std::fs::write(dir.join("judge_retry.md"), "Again: {{error}} ({{names}})").unwrap();
        let names = ["cand-00".to_owned(), "cand-01".to_owned()];
        assert_eq!(Templates::with_overrides(&dir).unwrap().render_judge_retry("bad", &names).unwrap(), "Again: bad (cand-00, cand-01)");
        std::fs::remove_file(dir.join("judge_retry.md")).unwrap();

        std::fs::write(dir.join("sytem.md"), "typo").unwrap();
        let e = Templates::with_overrides(&dir).unwrap_err().to_string();
        assert!(e.contains("sytem.md: not a prompt template"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
