//! The environment file format of rewardsmith: a serde schema for `environments/<id>.toml` and the
//! validation that turns a parsed file into an [`EnvSpec`] every later stage can trust.
//!
//! This crate knows nothing of the physics engine (the `sim` crate bridges the two), so the schema
//! can be read, validated and documented without building a world. Robot models (URDF, MJCF)
//! named in `[model]` are read here too, into the same bodies and joints (`import`). Every key is
//! documented with its unit and default in `environments/README.md`.

pub mod catalog;
mod de;
mod error;
mod import;
mod schema;
mod validate;
mod vocabulary;

pub use error::SpecError;
pub use schema::*;
pub use validate::{RESERVED_STATE_NAMES, WORLD};
pub use vocabulary::{Source, ValueType};

use std::path::Path;

/// The result of loading an environment file: the validated spec plus where it came from.
#[derive(Debug, Clone)]
pub struct LoadedSpec {
    /// The validated specification.
    pub spec: EnvSpec,
    /// Hex SHA-256 of the file's bytes (and of its `[model]` file's, when it has one); rollouts
    /// record it so a replay notices an edited env.
    pub hash: String,
    /// The path it was read from, as given (used in error messages).
    pub path: String,
}

/// Reads, parses and validates an environment file.
pub fn load(path: &Path) -> Result<LoadedSpec, SpecError> {
    let display = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| SpecError::Io { file: display.clone(), message: e.to_string() })?;
    LoadedSpec::with_models(&display, &text, &read_model_file)
}

/// Reads a `[model]` file from disk.
fn read_model_file(path: &str) -> Result<String, SpecError> {
    std::fs::read_to_string(path).map_err(|e| SpecError::Io { file: path.to_owned(), message: e.to_string() })
}

/// Reads a `[model]` file from disk, else from the built-in assets.
fn read_model_file_or_asset(path: &str) -> Result<String, SpecError> {
    if Path::new(path).is_file() {
        return read_model_file(path);
    }
    catalog::asset(path)
        .map(str::to_owned)
        .ok_or_else(|| SpecError::Io { file: path.to_owned(), message: "no such file (nor a built-in asset of that name)".into() })
}

impl LoadedSpec {
    /// Parses and validates environment-file text that came from `path` (a file, or the
    /// `environments/<id>.toml` name of a built-in), keeping its hash. A `[model]` file is read
    /// from disk beside `path`, else from the built-in assets.
    pub fn from_text(path: &str, text: &str) -> Result<Self, SpecError> {
        Self::with_models(path, text, &read_model_file_or_asset)
    }

    /// As [`from_text`](Self::from_text), with `read` giving the text of a `[model]` file by
    /// its path (the env file's folder joined with the `[model]` path).
    pub(crate) fn with_models(path: &str, text: &str, read: &dyn Fn(&str) -> Result<String, SpecError>) -> Result<Self, SpecError> {
        let (spec, model_text) = parse_with(path, text, read)?;
        let hash = match model_text {
            None => sha256_hex(text.as_bytes()),
            // Both files decide the dynamics; the separator keeps the two apart.
            Some(model) => sha256_hex(format!("{text}\0[model]\0{model}").as_bytes()),
        };
        Ok(Self { spec, hash, path: path.to_owned() })
    }
}

/// Parses and validates environment-file text; `file` names the source in error messages (and,
/// with a `[model]`, locates the model file on disk or among the built-in assets).
pub fn parse(file: &str, text: &str) -> Result<EnvSpec, SpecError> {
    parse_with(file, text, &read_model_file_or_asset).map(|(spec, _)| spec)
}

/// Parses, imports the `[model]` (returning its text) and validates.
fn parse_with(file: &str, text: &str, read: &dyn Fn(&str) -> Result<String, SpecError>) -> Result<(EnvSpec, Option<String>), SpecError> {
    let de = toml::Deserializer::parse(text).map_err(|e| SpecError::from_toml(file, text, e))?;
    let mut spec: EnvSpec = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        SpecError::from_toml_at(file, text, path, e.into_inner())
    })?;
    let mut model_text = None;
    if let Some(model) = spec.model.clone() {
        let relative = match (&model.urdf, &model.mjcf) {
            (Some(p), None) | (None, Some(p)) => p,
            _ => return Err(SpecError::invalid(file, "model", "give one of `urdf` or `mjcf` (a path relative to this file)")),
        };
        if model.mjcf.is_some() && !model.fixed_root {
            return Err(SpecError::invalid(file, "model.fixed_root", "is for URDF only (an MJCF body is free when it has a <freejoint>)"));
        }
        let folder = Path::new(file).parent().unwrap_or(Path::new(""));
        let path = normalize(&folder.join(relative));
        // A model file's error names the env file too: the model may be shared by several.
        let in_env_file = |e: SpecError| SpecError::invalid(file, "model", e.to_string());
        let text = read(&path).map_err(in_env_file)?;
        let imported = import::import(&model, &path, &text).map_err(in_env_file)?;
        spec.bodies.splice(0..0, imported.bodies);
        spec.joints.splice(0..0, imported.joints);
        spec.sites.splice(0..0, imported.sites);
        model_text = Some(text);
    }
    validate::validate(file, &spec)?;
    Ok((spec, model_text))
}

/// `a/b/../c` as `a/c` (no file system access), so a model path matches a built-in asset's name.
fn normalize(path: &Path) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.to_str().unwrap_or_default().split('/') {
        match part {
            "." | "" if !parts.is_empty() => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

/// Hex-encoded SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl EnvSpec {
    /// Number of action components (one per actuator).
    pub fn action_dim(&self) -> usize {
        self.actuators.len()
    }

    /// The body named `name`.
    pub fn body(&self, name: &str) -> Option<&Body> {
        self.bodies.iter().find(|b| b.name == name)
    }

    /// The joint named `name`.
    pub fn joint(&self, name: &str) -> Option<&Joint> {
        self.joints.iter().find(|j| j.name == name)
    }

    /// Control period in seconds: one action lasts `timestep * substeps`.
    pub fn control_dt(&self) -> f64 {
        self.physics.timestep * f64::from(self.physics.substeps)
    }

    /// The env's default training budget in environment steps: its `[ppo] total_steps`, else
    /// [`DEFAULT_TRAINING_STEPS`] (what a search trains each candidate for by default).
    pub fn training_steps(&self) -> u64 {
        self.ppo.get("total_steps").and_then(toml::Value::as_integer).and_then(|n| u64::try_from(n).ok()).unwrap_or(DEFAULT_TRAINING_STEPS)
    }

    /// Whether an episode can end before its time limit (the env has termination conditions).
    pub fn terminates(&self) -> bool {
        !self.terminations.is_empty()
    }
}

/// PPO's default training budget in environment steps (the ppo crate's `PpoConfig::total_steps`
/// default), for envs whose `[ppo]` table does not set one.
pub const DEFAULT_TRAINING_STEPS: u64 = 100_000;
