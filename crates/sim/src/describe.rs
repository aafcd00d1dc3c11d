//! The compact typed representation of an environment that `rewardsmith envs ID` prints and the
//! reward designer (an LLM or a person) reads: every state variable with type, unit and meaning,
//! the actions, the episode rules and the task.

use crate::env::EnvModel;
use rewardsmith_spec::{Actuator, Aggregate, JointKind, Source, ValueType};
use std::fmt::Write as _;

impl EnvModel {
    /// Unit of state variable `index`, from the vocabulary or the file.
    pub fn state_unit(&self, index: usize) -> String {
        let spec = self.spec();
        let var = &spec.state[index];
        if let Some(unit) = &var.unit {
            return unit.clone();
        }
        let joint_unit = |j: &str, rate: bool| {
            let prismatic = spec.joint(j).is_some_and(|j| j.kind == JointKind::Prismatic);
            match (prismatic, rate) {
                (true, false) => "m",
                (true, true) => "m/s",
                (false, false) => "rad",
                (false, true) => "rad/s",
            }
            .to_owned()
        };
        match var.source.as_deref().and_then(Source::parse) {
            Some(Source::JointPosition(j)) => joint_unit(&j, false),
            Some(Source::JointVelocity(j)) => joint_unit(&j, true),
            Some(Source::BodyPosition(_) | Source::SitePosition(_)) => "m".into(),
            Some(Source::BodyLinvel(_) | Source::SiteLinvel(_)) => "m/s".into(),
            Some(Source::BodyAngvel(_)) => "rad/s".into(),
            Some(Source::BodyQuat(_) | Source::BodyUp(_) | Source::BodyForward(_) | Source::Action) => "1".into(),
            Some(Source::Target(t)) => spec.targets.iter().find(|x| x.name == t).map_or(String::new(), |t| t.unit.clone()),
            Some(Source::Time) => "s".into(),
            None => String::new(),
        }
    }

    /// The text representation (stable: tests snapshot it).
    pub fn describe(&self) -> String {
        self.describe_as(true)
    }

    /// What a prompt embeds: [`describe`](Self::describe) without the env file's path (a local
    /// detail that would make the prompt, and so a cassette, depend on where the file lies) and
    /// without the task line (the prompt states the task, perhaps the user's own, on its own).
    pub fn describe_for_prompt(&self) -> String {
        self.describe_as(false)
    }

    fn describe_as(&self, full: bool) -> String {
        let spec = self.spec();
        let p = &spec.physics;
        let mut out = String::new();
        let w = &mut out;
        if full {
            let _ = writeln!(w, "environment {} (version {}, {})", spec.id, spec.version, self.path());
        } else {
            let _ = writeln!(w, "environment {} (version {})", spec.id, spec.version);
        }
        let _ = writeln!(w, "\n{}\n", spec.description.trim());
        if full {
            let _ = writeln!(w, "task: {}\n", spec.task.trim());
        }
        let dt = spec.control_dt();
        let _ = writeln!(
            w,
            "timing: one step = {dt} s ({:.4} Hz control, {} physics steps of {} s); episode = {} steps ({} s)",
            1.0 / dt,
            p.substeps,
            p.timestep,
            p.episode_length,
            dt * f64::from(p.episode_length)
        );
        let _ = writeln!(w, "\nstate variables (s.<name>):");
        let name_w = spec.state.iter().map(|v| v.name.len()).max().unwrap_or(0).max(6);
        for (i, var) in spec.state.iter().enumerate() {
            let ty = self.state_types().get(i).copied().unwrap_or(ValueType::Float).to_string();
            let unit = self.state_unit(i);
            let origin = match (&var.source, &var.expr) {
                (Some(src), _) => src.clone(),
                (_, Some(expr)) => format!("= {expr}"),
                _ => String::new(),
            };
            let _ = writeln!(w, "  s.{:<name_w$}  {ty:<8} {unit:<6} {} [{origin}]", var.name, var.doc.trim());
        }
        let n = spec.action_dim();
        let _ = writeln!(w, "  s.{:<name_w$}  {:<8} {:<6} the action just applied, each component clipped to [-1, 1]", "action", format!("array[{n}]"), "1");
        let _ = writeln!(w, "  s.{:<name_w$}  {:<8} {:<6} duration of one step", "dt", "float", "s");
        let _ = writeln!(w, "  s.{:<name_w$}  {:<8} {:<6} steps since the episode started (1 on the first reward call)", "step", "int", "");
        let _ = writeln!(w, "  s.{:<name_w$}  {:<8} {:<6} seconds since the episode started", "time", "float", "s");
        let _ = writeln!(w, "\nactions (s.action[i], each in [-1, 1]):");
        for (i, a) in spec.actuators.iter().enumerate() {
            let what = match a {
                Actuator::JointForce { joint, gear, .. } => {
                    let prismatic = spec.joint(joint).is_some_and(|j| j.kind == JointKind::Prismatic);
                    let unit = if prismatic { "N" } else { "N·m" };
                    format!("{} on joint {joint:?}: {gear} {unit} at +1", if prismatic { "force" } else { "torque" })
                }
                Actuator::JointVelocity { joint, gear, .. } => format!("velocity servo on joint {joint:?}: target {gear} per s at +1"),
                Actuator::JointPosition { joint, gear, .. } => format!("position servo on joint {joint:?}: target {gear} at +1"),
                Actuator::BodyThrust { body, gear, reversible, .. } => {
                    format!("thrust on body {body:?}: {gear} N at +1{}", if *reversible { "" } else { " (no reverse thrust)" })
                }
            };
            let _ = writeln!(w, "  [{i}] {}: {what}", a.name());
        }
        let obs: Vec<&str> = spec.observation.iter().map(String::as_str).collect();
        let _ = writeln!(w, "\nobservation given to the policy ({} numbers): {}", self.obs_dim(), obs.join(", "));
        if spec.terminations.is_empty() {
            let _ = writeln!(w, "\nepisode ends only at the time limit");
        } else {
            let _ = writeln!(w, "\nepisode ends early (terminated) when:");
            for t in &spec.terminations {
                let _ = writeln!(w, "  {}: {} [{}]", t.name, t.doc.trim(), t.expr);
            }
        }
        let agg = match spec.fitness.aggregate {
            Aggregate::Mean => "mean over the episode",
            Aggregate::Sum => "sum over the episode",
            Aggregate::Final => "value at the episode's last step",
            Aggregate::Max => "maximum over the episode",
        };
        if spec.fitness.hidden {
            let _ = writeln!(w, "\nsuccess measure (ground truth, not a reward): not shown; you see the values your rewards' policies earn");
        } else {
            let _ = writeln!(w, "\nsuccess measure (ground truth, not a reward): {} [{}, {agg}]", spec.fitness.doc.trim(), spec.fitness.expr);
        }
        out
    }
}
