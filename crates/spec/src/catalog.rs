//! The built-in environments and their baseline reward scripts, embedded at build time from
//! `environments/` and `reward_scripts/`, so the binary finds them wherever it runs.
//!
//! `--env` takes an id or a path. Resolution order: an existing file path; then, for an id,
//! `$REWARDSMITH_ENVIRONMENTS/<id>.toml` if that variable names a folder holding it (to try edits
//! without rebuilding); then the embedded copy.

use crate::{LoadedSpec, SpecError};
use std::path::Path;

mod generated {
    include!(concat!(env!("OUT_DIR"), "/catalog.rs"));
}

/// Environment variable naming a folder searched for `<id>.toml` before the embedded copies.
pub const ENVIRONMENTS_VAR: &str = "REWARDSMITH_ENVIRONMENTS";

/// Ids of the built-in environments, sorted (by id: `cartpole` before `cartpole-swingup`).
pub fn ids() -> Vec<&'static str> {
    let mut ids: Vec<&'static str> = generated::ENVIRONMENTS.iter().map(|(id, _, _)| *id).collect();
    ids.sort_unstable();
    ids
}

/// The embedded text of a built-in environment: (path relative to the repository, text).
pub fn builtin(id: &str) -> Option<(&'static str, &'static str)> {
    generated::ENVIRONMENTS.iter().find(|(i, _, _)| *i == id).map(|(_, path, text)| (*path, *text))
}

/// The embedded text of a built-in model file, by its path relative to the repository
/// (`environments/assets/<file>`).
pub fn asset(path: &str) -> Option<&'static str> {
    generated::ASSETS.iter().find(|(p, _)| *p == path).map(|(_, text)| *text)
}

/// The embedded reward scripts of a built-in environment: (path, text), sorted by path.
pub fn reward_scripts(id: &str) -> Vec<(&'static str, &'static str)> {
    generated::REWARD_SCRIPTS.iter().filter(|(i, _, _)| *i == id).map(|(_, p, t)| (*p, *t)).collect()
}

/// One embedded reward script by env id and file name (`human.rhai`, `sparse.rhai`).
pub fn reward_script(id: &str, file: &str) -> Option<(&'static str, &'static str)> {
    reward_scripts(id).into_iter().find(|(p, _)| p.rsplit('/').next() == Some(file))
}

/// Resolves `--env`: a path to an env file, or a built-in id (see the module docs for the order).
pub fn resolve(env: &str) -> Result<LoadedSpec, SpecError> {
    let as_path = Path::new(env);
    if env.ends_with(".toml") || as_path.components().count() > 1 || as_path.is_file() {
        return crate::load(as_path);
    }
    if let Some(dir) = std::env::var_os(ENVIRONMENTS_VAR) {
        let candidate = Path::new(&dir).join(format!("{env}.toml"));
        if candidate.is_file() {
            return crate::load(&candidate);
        }
    }
    let Some((path, text)) = builtin(env) else {
        return Err(SpecError::Invalid {
            file: env.to_owned(),
            context: "--env".to_owned(),
            message: format!("no such environment file, and no built-in environment with this id (built-in: {})", ids().join(", ")),
        });
    };
    // A built-in's model files are built in too, whatever is on disk.
    LoadedSpec::with_models(path, text, &|model| {
        asset(model).map(str::to_owned).ok_or_else(|| SpecError::Io { file: model.to_owned(), message: "no such built-in asset".into() })
    })
}

/// The env file a recording (rollout, policy) was made with: `override_env` (a `--env`) if given; else the first of the recorded path, the
/// `REWARDSMITH_ENVIRONMENTS` copy and the embedded built-in whose hash is the recorded one (a
/// stale copy on disk must not hide a matching built-in).
pub fn matching(id: &str, path: &str, hash: &str, override_env: Option<&str>) -> Result<LoadedSpec, String> {
    let candidates: Vec<Result<LoadedSpec, String>> = match override_env {
        Some(env) => vec![resolve(env).map_err(|e| e.to_string())],
        None => {
            let mut c = Vec::new();
            if Path::new(path).is_file() {
                c.push(crate::load(Path::new(path)).map_err(|e| e.to_string()));
            }
            c.push(resolve(id).map_err(|e| e.to_string()));
            if let Some((path, text)) = builtin(id) {
                c.push(LoadedSpec::from_text(path, text).map_err(|e| e.to_string()));
            }
            c
        }
    };
    let mut first = None;
    for candidate in candidates {
        match candidate {
            Ok(loaded) if loaded.hash == hash => return Ok(loaded),
            other => {
                first.get_or_insert(other);
            }
        }
    }
    match first {
        Some(Ok(loaded)) => Err(format!(
            "env file {} changed since recording (hash {} then, {} now); give the original file with --env",
            loaded.path,
            &hash[..12.min(hash.len())],
            &loaded.hash[..12]
        )),
        Some(Err(e)) => Err(e),
        None => Err(format!("environment {:?} not found; give its file with --env", id)),
    }
}
