//! The environment file format of rewardsmith: a serde schema for `environments/<id>.toml` and the
//! validation that turns a parsed file into an [`EnvSpec`] every later stage can trust.
//!
//! This crate knows nothing of the physics engine (the `sim` crate bridges the two), so the schema
//! can be read, validated and documented without building a world. Every key is documented with
//! its unit and default in `environments/README.md`.

pub mod catalog;
mod de;
mod error;
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
    /// Hex SHA-256 of the file's bytes; rollouts record it so a replay notices an edited env.
    pub hash: String,
    /// The path it was read from, as given (used in error messages).
    pub path: String,
}

/// Reads, parses and validates an environment file.
pub fn load(path: &Path) -> Result<LoadedSpec, SpecError> {
    let display = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| SpecError::Io {
        file: display.clone(),
        message: e.to_string(),
    })?;
    LoadedSpec::from_text(&display, &text)
}

impl LoadedSpec {
    /// Parses and validates environment-file text that came from `path` (a file, or the
    /// `environments/<id>.toml` name of a built-in), keeping its hash.
    pub fn from_text(path: &str, text: &str) -> Result<Self, SpecError> {
        let spec = parse(path, text)?;
        Ok(Self { spec, hash: sha256_hex(text.as_bytes()), path: path.to_owned() })
    }
}

/// Parses and validates environment-file text; `file` names the source in error messages.
pub fn parse(file: &str, text: &str) -> Result<EnvSpec, SpecError> {
    let de = toml::Deserializer::parse(text).map_err(|e| SpecError::from_toml(file, text, e))?;
    let spec: EnvSpec = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        SpecError::from_toml_at(file, text, path, e.into_inner())
    })?;
    validate::validate(file, &spec)?;
    Ok(spec)
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
}
