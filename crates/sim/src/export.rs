//! Exporting a rollout as a per-step table for analysis outside rewardsmith: numpy's `.npz` and
//! JSON lines.
//!
//! A rollout file holds actions, flags, poses, reward terms and fitness but no observations (they
//! follow from the env and the seed, and would multiply the file's size). [`export`] re-simulates
//! the rollout (each episode reset with its recorded seed, the recorded actions stepped) and takes
//! the observations from that re-simulation, while checking every recorded quantity bit for bit
//! as `rewardsmith replay` does: a table is only ever built from a trajectory the env reproduces.
//! Every array, field, dtype, shape and unit is documented in `docs/rollouts.md`.

use crate::SimError;
use crate::env::{Env, EnvModel};
use crate::rollout::{self, Rollout, RolloutHeader, Verified};
use rewardsmith_spec::LoadedSpec;
use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq};
use std::io::Write;

/// Value of the `format` key of the table's metadata ([`Table::metadata_json`]).
pub const EXPORT_FORMAT: &str = "rewardsmith-export-1";

/// Names of the 7 components of a pose, in the order of the last axis of [`Table::poses`].
pub const POSE_COMPONENTS: [&str; 7] = ["x", "y", "z", "qx", "qy", "qz", "qw"];

/// Prefix of the `.npz` entry of each reward term: the term `upright` is `term_upright`.
pub const TERM_PREFIX: &str = "term_";

/// A rollout re-simulated into one row per step (`T` steps over `E` episodes). Arrays with several
/// axes are flat and row-major, e.g. `observations[t * obs_dim + i]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// The rollout's header (env id, hash and path, seed, policy, names, embedded reward script).
    pub header: RolloutHeader,
    /// One name per observation component (`obs_dim` of them): a float variable is its name, a
    /// vec3 `name.x`, `name.y`, `name.z`, a quaternion `name.w`, `name.x`, `name.y`, `name.z` (the
    /// policy's order), an array `name[i]`.
    pub observation_names: Vec<String>,
    /// Actuator names, one per action component.
    pub action_names: Vec<String>,
    /// Body names, in the order of the second axis of [`Table::poses`].
    pub body_names: Vec<String>,
    /// Reward term names, in the order of [`Table::terms`] (empty without a reward script).
    pub term_names: Vec<String>,
    /// Length of an observation.
    pub obs_dim: usize,
    /// Length of an action.
    pub action_dim: usize,
    /// Episode index of each step (0-based) `[T]`.
    pub episode: Vec<u32>,
    /// Step index within its episode (0-based) `[T]`.
    pub step: Vec<u32>,
    /// The observation the policy saw before the step's action `[T, obs_dim]` (units per
    /// component as `rewardsmith envs ID` lists them).
    pub observations: Vec<f32>,
    /// The observation after the step, before any reset `[T, obs_dim]`.
    pub next_observations: Vec<f32>,
    /// The action applied, each component clipped to [-1, 1] `[T, action_dim]`.
    pub actions: Vec<f32>,
    /// Per reward term, its value at each step: `terms[k][t]` `[n_terms][T]`.
    pub terms: Vec<Vec<f64>>,
    /// The reward the env reported (the sum of the terms) `[T]`; `None` without a reward script.
    pub reward: Option<Vec<f64>>,
    /// The step's ground-truth fitness value `[T]` (aggregated over an episode by the env file's rule).
    pub fitness: Vec<f64>,
    /// The episode ended at this step by a termination condition `[T]`.
    pub terminated: Vec<bool>,
    /// The episode reached its length at this step without terminating `[T]`.
    pub truncated: Vec<bool>,
    /// Every body's world pose after the step, [`POSE_COMPONENTS`] (m, then a unit quaternion)
    /// `[T, n_bodies, 7]`.
    pub poses: Vec<f32>,
    /// Each episode's reset seed `[E]`.
    pub episode_seeds: Vec<u64>,
    /// Every body's world pose after each episode's reset `[E, n_bodies, 7]`.
    pub reset_poses: Vec<f32>,
}

/// The env a rollout was recorded in: `loaded` (the env file the rollout names, found with
/// `rewardsmith_spec::catalog::matching`) with the rollout's embedded reward script, if any.
pub fn env_for(rollout: &Rollout, loaded: &LoadedSpec) -> Result<Env, SimError> {
    let model = EnvModel::new(loaded)?;
    let reward = match &rollout.header.reward_script {
        Some(s) => Some(model.compile_reward(&s.name, &s.source)?),
        None => None,
    };
    Env::new(model, reward)
}

/// Reads the rollout file at `path` and exports it ([`export`]) in the env file it was recorded
/// with (found as `rewardsmith_spec::catalog::matching` finds it), or in `override_env`, which
/// must be the same environment (the recorded hash is checked): what `rewardsmith export` and
/// the Python package's `read_rollout` do. Every error names the file.
pub fn export_file(path: &std::path::Path, override_env: Option<&str>) -> Result<Table, SimError> {
    let recorded = Rollout::read(path)?;
    let h = &recorded.header;
    let fail = |message: String| SimError::Rollout { path: path.display().to_string(), message };
    // `matching` would call another env's file an edit of this one; say what it is instead.
    if let Some(env) = override_env {
        let given = rewardsmith_spec::catalog::resolve(env)?;
        if given.spec.id != h.env_id {
            return Err(fail(format!("recorded in environment {:?}, but --env {env} is {:?}", h.env_id, given.spec.id)));
        }
    }
    let loaded = rewardsmith_spec::catalog::matching(&h.env_id, &h.env_path, &h.env_hash, override_env).map_err(fail)?;
    let mut env = env_for(&recorded, &loaded).map_err(|e| fail(format!("cannot rebuild its environment: {e}")))?;
    export(&recorded, &mut env).map_err(|e| fail(e.to_string()))
}

/// Re-simulates `rollout` in `env` (built as [`env_for`] does) into a [`Table`]. Every recorded
/// pose, flag, reward term and fitness must come out bit for bit; the first that does not is
/// [`SimError::Mismatch`], naming the step and the quantity.
pub fn export(rollout: &Rollout, env: &mut Env) -> Result<Table, SimError> {
    let h = &rollout.header;
    let model = env.model().clone();
    let obs_dim = model.obs_dim();
    let action_dim = h.action_dim;
    if action_dim != model.action_dim() {
        return Err(SimError::Rollout {
            path: h.env_path.clone(),
            message: format!("the rollout's actions have {action_dim} components, the environment's {}", model.action_dim()),
        });
    }
    // Each term becomes the .npz entry `term_<name>`: a name that makes another entry's name
    // (`term_names`) or that a zip reads as a folder would lose its column without a word.
    if let Some(bad) = h.terms.iter().find(|n| *n == "names" || n.contains(['/', '\\', '\0'])) {
        return Err(SimError::Rollout {
            path: h.env_path.clone(),
            message: format!("the reward term {bad:?} cannot name an .npz entry ({TERM_PREFIX}{bad}); rename it in the script"),
        });
    }
    let (steps, episodes) = (rollout.steps(), rollout.episodes());
    let nb = h.bodies.len();
    let mut t = Table {
        header: h.clone(),
        observation_names: model.observation_names(),
        action_names: model.action_names(),
        body_names: h.bodies.clone(),
        term_names: h.terms.clone(),
        obs_dim,
        action_dim,
        episode: Vec::with_capacity(steps),
        step: Vec::with_capacity(steps),
        observations: Vec::with_capacity(steps * obs_dim),
        next_observations: Vec::with_capacity(steps * obs_dim),
        actions: Vec::with_capacity(steps * action_dim),
        terms: vec![Vec::with_capacity(steps); h.terms.len()],
        reward: h.reward_script.as_ref().map(|_| Vec::with_capacity(steps)),
        fitness: Vec::with_capacity(steps),
        terminated: Vec::with_capacity(steps),
        truncated: Vec::with_capacity(steps),
        poses: Vec::with_capacity(steps * nb * 7),
        episode_seeds: Vec::with_capacity(episodes),
        reset_poses: Vec::with_capacity(episodes * nb * 7),
    };
    // The observation before a step is the one after the record before it (a reset or a step).
    let mut before: Vec<f32> = Vec::with_capacity(obs_dim);
    let mut in_episode = 0u32;
    let mut bad_terms = None;
    let mismatch = rollout::replay_with(rollout, env, |env, record| match record {
        Verified::Reset { seed, poses } => {
            t.episode_seeds.push(seed);
            t.reset_poses.extend(poses.iter().flatten());
            before.clear();
            before.extend_from_slice(env.obs());
            in_episode = 0;
        }
        Verified::Step { action, poses, terms, fitness, terminated, truncated, reward } => {
            t.episode.push(t.episode_seeds.len() as u32 - 1);
            t.step.push(in_episode);
            t.observations.extend_from_slice(&before);
            t.next_observations.extend_from_slice(env.obs());
            t.actions.extend_from_slice(action);
            // The replay compares the terms the rollout recorded, as many as it has; a header
            // naming another number is a malformed file, not a column to guess.
            if terms.len() != t.terms.len() {
                bad_terms.get_or_insert((t.episode.len() - 1, terms.len()));
            }
            for (column, value) in t.terms.iter_mut().zip(terms) {
                column.push(*value);
            }
            if let Some(r) = &mut t.reward {
                r.push(reward);
            }
            t.fitness.push(fitness);
            t.terminated.push(terminated);
            t.truncated.push(truncated);
            t.poses.extend(poses.iter().flatten());
            before.clear();
            before.extend_from_slice(env.obs());
            in_episode += 1;
        }
    })?;
    if let Some(m) = mismatch {
        return Err(SimError::Mismatch(m));
    }
    if let Some((step, n)) = bad_terms {
        return Err(SimError::Rollout {
            path: h.env_path.clone(),
            message: format!("step {step} has {n} reward terms, the header names {}", t.term_names.len()),
        });
    }
    Ok(t)
}

/// The `header` entry of an `.npz`: the names and the rollout's header.
#[derive(Serialize)]
struct Metadata<'a> {
    format: &'static str,
    steps: usize,
    episodes: usize,
    obs_dim: usize,
    action_dim: usize,
    observation_names: &'a [String],
    action_names: &'a [String],
    body_names: &'a [String],
    term_names: &'a [String],
    pose_components: [&'static str; 7],
    has_reward: bool,
    rollout: &'a RolloutHeader,
}

impl Table {
    /// Number of steps (rows), `T`.
    pub fn len(&self) -> usize {
        self.episode.len()
    }

    /// Whether the table has no steps.
    pub fn is_empty(&self) -> bool {
        self.episode.is_empty()
    }

    /// Number of episodes, `E`.
    pub fn episodes(&self) -> usize {
        self.episode_seeds.len()
    }

    /// The metadata as JSON (the `.npz` entry `header`): `format` ([`EXPORT_FORMAT`]), `steps`,
    /// `episodes`, `obs_dim`, `action_dim`, the observation, action, body and term names,
    /// `pose_components`, `has_reward` and `rollout`, the rollout's header.
    pub fn metadata_json(&self) -> String {
        let meta = Metadata {
            format: EXPORT_FORMAT,
            steps: self.len(),
            episodes: self.episodes(),
            obs_dim: self.obs_dim,
            action_dim: self.action_dim,
            observation_names: &self.observation_names,
            action_names: &self.action_names,
            body_names: &self.body_names,
            term_names: &self.term_names,
            pose_components: POSE_COMPONENTS,
            has_reward: self.reward.is_some(),
            rollout: &self.header,
        };
        serde_json::to_string(&meta).expect("metadata serialises")
    }

    /// The table as an `.npz` file (`numpy.load` reads it; uncompressed, as `numpy.savez`
    /// writes): one `.npy` array per column, reward terms as `term_<name>`, the names as string
    /// arrays and the metadata as the 0-d string `header` (`json.loads(str(npz["header"]))`).
    pub fn to_npz_bytes(&self) -> Vec<u8> {
        let (t, e, nb) = (self.len(), self.episodes(), self.body_names.len());
        let mut entries: Vec<(String, Vec<u8>)> = vec![
            ("header".into(), npy_strings(&[], std::slice::from_ref(&self.metadata_json()))),
            ("episode".into(), npy(&[t], "<u4", &self.episode, |x| x.to_le_bytes())),
            ("step".into(), npy(&[t], "<u4", &self.step, |x| x.to_le_bytes())),
            ("observations".into(), npy(&[t, self.obs_dim], "<f4", &self.observations, |x| x.to_le_bytes())),
            ("next_observations".into(), npy(&[t, self.obs_dim], "<f4", &self.next_observations, |x| x.to_le_bytes())),
            ("actions".into(), npy(&[t, self.action_dim], "<f4", &self.actions, |x| x.to_le_bytes())),
        ];
        for (name, column) in self.term_names.iter().zip(&self.terms) {
            entries.push((format!("{TERM_PREFIX}{name}"), npy(&[t], "<f8", column, |x| x.to_le_bytes())));
        }
        if let Some(reward) = &self.reward {
            entries.push(("reward".into(), npy(&[t], "<f8", reward, |x| x.to_le_bytes())));
        }
        entries.extend([
            ("fitness".into(), npy(&[t], "<f8", &self.fitness, |x| x.to_le_bytes())),
            ("terminated".into(), npy(&[t], "|b1", &self.terminated, |x| [u8::from(*x)])),
            ("truncated".into(), npy(&[t], "|b1", &self.truncated, |x| [u8::from(*x)])),
            ("poses".into(), npy(&[t, nb, 7], "<f4", &self.poses, |x| x.to_le_bytes())),
            ("episode_seeds".into(), npy(&[e], "<u8", &self.episode_seeds, |x| x.to_le_bytes())),
            ("reset_poses".into(), npy(&[e, nb, 7], "<f4", &self.reset_poses, |x| x.to_le_bytes())),
            ("observation_names".into(), npy_strings(&[self.observation_names.len()], &self.observation_names)),
            ("action_names".into(), npy_strings(&[self.action_names.len()], &self.action_names)),
            ("body_names".into(), npy_strings(&[nb], &self.body_names)),
            ("term_names".into(), npy_strings(&[self.term_names.len()], &self.term_names)),
        ]);
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, bytes) in entries {
            // Stored, as numpy.savez does: the floats of a trajectory hardly compress, and a
            // stored entry needs no inflater to read. Zip64 only where an entry needs it.
            let options =
                zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Stored).large_file(bytes.len() as u64 >= u64::from(u32::MAX));
            zip.start_file(format!("{name}.npy"), options).expect("writing to memory");
            zip.write_all(&bytes).expect("writing to memory");
        }
        zip.finish().expect("writing to memory").into_inner()
    }

    /// Writes the table as JSON lines: one object per step, no header line (so
    /// `pandas.read_json(path, lines=True)` gives one row per step). Keys: `episode`, `step`,
    /// `seed` (the episode's reset seed), `obs`, `next_obs`, `action`, `reward` (`null` without a
    /// reward script), `terms` (`{name: value}`), `fitness`, `terminated`, `truncated`, `poses`
    /// (`{body: [x, y, z, qx, qy, qz, qw]}`). Every float reads back exactly: f32 values are
    /// written as the f64 they widen to, f64 values in their shortest round-trip form; a
    /// non-finite value is `null`.
    pub fn write_jsonl<W: Write>(&self, out: &mut W) -> std::io::Result<()> {
        let (od, ad, nb) = (self.obs_dim, self.action_dim, self.body_names.len());
        let mut line = Vec::new();
        for i in 0..self.len() {
            let episode = self.episode[i] as usize;
            let row = Row {
                episode: self.episode[i],
                step: self.step[i],
                seed: self.episode_seeds[episode],
                obs: Widened(&self.observations[i * od..(i + 1) * od]),
                next_obs: Widened(&self.next_observations[i * od..(i + 1) * od]),
                action: Widened(&self.actions[i * ad..(i + 1) * ad]),
                reward: self.reward.as_ref().map(|r| r[i]),
                terms: Terms { names: &self.term_names, columns: &self.terms, row: i },
                fitness: self.fitness[i],
                terminated: self.terminated[i],
                truncated: self.truncated[i],
                poses: Poses { names: &self.body_names, poses: &self.poses[i * nb * 7..(i + 1) * nb * 7] },
            };
            line.clear();
            serde_json::to_writer(&mut line, &row)?;
            line.push(b'\n');
            out.write_all(&line)?;
        }
        Ok(())
    }
}

/// One JSON line.
#[derive(Serialize)]
struct Row<'a> {
    episode: u32,
    step: u32,
    seed: u64,
    obs: Widened<'a>,
    next_obs: Widened<'a>,
    action: Widened<'a>,
    reward: Option<f64>,
    terms: Terms<'a>,
    fitness: f64,
    terminated: bool,
    truncated: bool,
    poses: Poses<'a>,
}

/// f32 values written as the f64 they widen to: the shortest decimal of an f32 (`0.1`) read as a
/// float64 is another number than the f32, so a reader would have to know to round it back.
struct Widened<'a>(&'a [f32]);

impl Serialize for Widened<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for x in self.0 {
            seq.serialize_element(&f64::from(*x))?;
        }
        seq.end()
    }
}

/// The reward terms of one row, as a map in term order.
struct Terms<'a> {
    names: &'a [String],
    columns: &'a [Vec<f64>],
    row: usize,
}

impl Serialize for Terms<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.names.len()))?;
        for (name, column) in self.names.iter().zip(self.columns) {
            map.serialize_entry(name, &column[self.row])?;
        }
        map.end()
    }
}

/// The body poses of one row, as a map in body order.
struct Poses<'a> {
    names: &'a [String],
    poses: &'a [f32],
}

impl Serialize for Poses<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.names.len()))?;
        for (name, pose) in self.names.iter().zip(self.poses.chunks_exact(7)) {
            map.serialize_entry(name, &Widened(pose))?;
        }
        map.end()
    }
}

/// An `.npy` file (format 1.0): magic, header dict padded to a multiple of 64 bytes, then the data
/// in C order.
fn npy<T, const N: usize>(shape: &[usize], descr: &str, data: &[T], bytes: impl Fn(&T) -> [u8; N]) -> Vec<u8> {
    npy_raw(shape, descr, data.len(), data.iter().flat_map(bytes))
}

fn npy_raw(shape: &[usize], descr: &str, count: usize, data: impl Iterator<Item = u8>) -> Vec<u8> {
    debug_assert_eq!(count, shape.iter().product::<usize>());
    let dims = match shape {
        [n] => format!("({n},)"),
        _ => format!("({})", shape.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {dims}, }}");
    // numpy aligns the data to 64 bytes: magic (6), version (2), length (2), header, newline.
    let unpadded = 10 + header.len() + 1;
    header.extend(std::iter::repeat_n(' ', unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&u16::try_from(header.len()).expect("a short header").to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend(data);
    out
}

/// Strings as numpy's fixed-width unicode (`<U<n>`: n UTF-32 code units each, NUL-padded), which
/// numpy reads as `str` without any decoding step.
fn npy_strings(shape: &[usize], strings: &[String]) -> Vec<u8> {
    let width = strings.iter().map(|s| s.chars().count()).max().unwrap_or(0).max(1);
    let data = strings.iter().flat_map(|s| s.chars().map(u32::from).chain(std::iter::repeat(0)).take(width)).flat_map(u32::to_le_bytes);
    npy_raw(shape, &format!("<U{width}"), strings.len(), data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::episode_seed;
    use crate::rollout::{Record, record};
    use rewardsmith_spec::catalog;
    use std::io::Read;

    fn cartpole() -> Env {
        let model = EnvModel::new(&catalog::resolve("cartpole").unwrap()).unwrap();
        let (name, source) = catalog::reward_script("cartpole", "human.rhai").unwrap();
        let reward = model.compile_reward(name, source).unwrap();
        Env::new(model, Some(reward)).unwrap()
    }

    /// A constant push topples the pole within a few dozen steps: several episodes.
    fn pushed() -> Rollout {
        record(&mut cartpole(), 5, 90, "push", |obs, a| a[0] = if obs[0] > 0.5 { -1.0 } else { 1.0 }).unwrap()
    }

    fn bits32(x: &[f32]) -> Vec<u32> {
        x.iter().map(|x| x.to_bits()).collect()
    }

    #[test]
    fn exported_observations_equal_a_fresh_env_stepped_with_the_recorded_actions() {
        let rollout = pushed();
        assert!(rollout.episodes() >= 2, "{} episodes", rollout.episodes());
        let table = export(&rollout, &mut cartpole()).unwrap();
        let (t, od, ad, nb) = (table.len(), table.obs_dim, table.action_dim, table.body_names.len());
        assert_eq!((t, table.episodes()), (rollout.steps(), rollout.episodes()));
        assert_eq!(table.observation_names.len(), od);
        assert_eq!(table.action_names, ["push"]);
        assert_eq!(table.body_names, ["cart", "pole"]);
        assert_eq!(table.term_names, rollout.header.terms);
        assert_eq!((table.observations.len(), table.next_observations.len(), table.actions.len()), (t * od, t * od, t * ad));
        assert_eq!(table.poses.len(), t * nb * 7);
        assert_eq!(table.reset_poses.len(), table.episodes() * nb * 7);

        let mut env = cartpole();
        let mut episode = None;
        for i in 0..t {
            let e = table.episode[i] as usize;
            if episode != Some(e) {
                assert_eq!(table.step[i], 0, "row {i} starts episode {e}");
                assert_eq!(table.episode_seeds[e], episode_seed(5, e as u64));
                env.reset(table.episode_seeds[e]).unwrap();
                episode = Some(e);
            }
            let row = |x: &[f32], w: usize| bits32(&x[i * w..(i + 1) * w]);
            assert_eq!(row(&table.observations, od), bits32(env.obs()), "row {i}: the observation before the action");
            let s = env.step(&table.actions[i * ad..(i + 1) * ad]).unwrap();
            assert_eq!(row(&table.next_observations, od), bits32(s.obs), "row {i}: the observation after it");
            assert_eq!(table.reward.as_ref().unwrap()[i].to_bits(), s.reward.to_bits(), "row {i}: reward");
            for (k, column) in table.terms.iter().enumerate() {
                assert_eq!(column[i].to_bits(), s.terms.values[k].to_bits(), "row {i}: term {k}");
            }
            assert_eq!(table.fitness[i].to_bits(), s.fitness.to_bits());
            assert_eq!((table.terminated[i], table.truncated[i]), (s.terminated, s.truncated));
            let poses: Vec<f32> = env.body_poses().flat_map(|(p, q)| [p[0], p[1], p[2], q[0], q[1], q[2], q[3]]).collect();
            assert_eq!(row(&table.poses, nb * 7), bits32(&poses), "row {i}: poses after the step");
        }
        // The reward is the sum of the terms, as training sees it.
        let reward = table.reward.as_ref().unwrap();
        assert!(reward.iter().any(|r| *r != 0.0));
    }

    #[test]
    fn a_rollout_without_a_reward_script_has_no_reward_column() {
        let model = EnvModel::new(&catalog::resolve("pendulum").unwrap()).unwrap();
        let rollout = record(&mut Env::new(model, None).unwrap(), 1, 10, "zero", |_, a| a.fill(0.0)).unwrap();
        let loaded = catalog::resolve("pendulum").unwrap();
        let table = export(&rollout, &mut env_for(&rollout, &loaded).unwrap()).unwrap();
        assert_eq!((table.len(), table.reward.as_ref(), table.terms.len()), (10, None, 0));
        let mut lines = Vec::new();
        table.write_jsonl(&mut lines).unwrap();
        let first: serde_json::Value = serde_json::from_str(std::str::from_utf8(&lines).unwrap().lines().next().unwrap()).unwrap();
        assert_eq!((&first["reward"], &first["terms"]), (&serde_json::Value::Null, &serde_json::json!({})));
        assert!(!npz_names(&table.to_npz_bytes()).contains(&"reward.npy".to_owned()));
    }

    fn npz_names(bytes: &[u8]) -> Vec<String> {
        let zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        zip.file_names().map(str::to_owned).collect()
    }

    /// An entry's `.npy` header dict and data.
    fn npy_entry(bytes: &[u8], name: &str) -> (String, Vec<u8>) {
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let mut file = zip.by_name(&format!("{name}.npy")).unwrap();
        assert_eq!(file.compression(), zip::CompressionMethod::Stored);
        let mut npy = Vec::new();
        file.read_to_end(&mut npy).unwrap();
        assert_eq!(&npy[..8], b"\x93NUMPY\x01\x00", "{name}");
        let len = u16::from_le_bytes([npy[8], npy[9]]) as usize;
        assert_eq!((10 + len) % 64, 0, "{name}: data aligned as numpy aligns it");
        let header = std::str::from_utf8(&npy[10..10 + len]).unwrap();
        assert!(header.ends_with('\n'));
        (header.trim_end().to_owned(), npy[10 + len..].to_vec())
    }

    fn utf32(data: &[u8]) -> String {
        data.chunks_exact(4).map(|c| char::from_u32(u32::from_le_bytes(c.try_into().unwrap())).unwrap()).filter(|c| *c != '\0').collect()
    }

    #[test]
    fn npz_bytes_are_a_zip_of_npy_arrays_with_the_documented_entries() {
        let rollout = pushed();
        let table = export(&rollout, &mut cartpole()).unwrap();
        let bytes = table.to_npz_bytes();
        let (t, e, od) = (table.len(), table.episodes(), table.obs_dim);
        let mut expected: Vec<String> = [
            "header",
            "episode",
            "step",
            "observations",
            "next_observations",
            "actions",
            "reward",
            "fitness",
            "terminated",
            "truncated",
            "poses",
            "episode_seeds",
            "reset_poses",
            "observation_names",
            "action_names",
            "body_names",
            "term_names",
        ]
        .iter()
        .map(|n| format!("{n}.npy"))
        .collect();
        expected.extend(table.term_names.iter().map(|n| format!("term_{n}.npy")));
        let mut names = npz_names(&bytes);
        names.sort();
        expected.sort();
        assert_eq!(names, expected);

        let dict = |descr: &str, shape: &str| format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        let (h, data) = npy_entry(&bytes, "observations");
        assert_eq!(h, dict("<f4", &format!("({t}, {od})")));
        assert_eq!(data, table.observations.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<_>>());
        assert_eq!(npy_entry(&bytes, "episode").0, dict("<u4", &format!("({t},)")));
        assert_eq!(npy_entry(&bytes, "poses").0, dict("<f4", &format!("({t}, 2, 7)")));
        assert_eq!(npy_entry(&bytes, "reset_poses").0, dict("<f4", &format!("({e}, 2, 7)")));
        assert_eq!(npy_entry(&bytes, "episode_seeds").0, dict("<u8", &format!("({e},)")));
        let (h, data) = npy_entry(&bytes, "terminated");
        assert_eq!(h, dict("|b1", &format!("({t},)")));
        assert_eq!(data, table.terminated.iter().map(|b| u8::from(*b)).collect::<Vec<_>>());
        let term = &table.term_names[0];
        let (h, data) = npy_entry(&bytes, &format!("term_{term}"));
        assert_eq!(h, dict("<f8", &format!("({t},)")));
        assert_eq!(data, table.terms[0].iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<_>>());

        let (h, data) = npy_entry(&bytes, "body_names");
        assert_eq!(h, dict("<U4", "(2,)"));
        assert_eq!(utf32(&data[..16]), "cart");
        assert_eq!(utf32(&data[16..]), "pole");
        let (h, data) = npy_entry(&bytes, "header");
        let json = utf32(&data);
        assert_eq!(h, dict(&format!("<U{}", json.chars().count()), "()"));
        let meta: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(meta["format"], EXPORT_FORMAT);
        assert_eq!(meta["steps"], t);
        assert_eq!(meta["observation_names"].as_array().unwrap().len(), od);
        assert_eq!(meta["rollout"]["env_id"], "cartpole");
        assert_eq!(meta["rollout"]["seed"], 5);
        assert_eq!(meta["has_reward"], true);
    }

    #[test]
    fn jsonl_has_one_object_per_step_whose_floats_read_back_exactly() {
        let table = export(&pushed(), &mut cartpole()).unwrap();
        let mut out = Vec::new();
        table.write_jsonl(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), table.len());
        let f32s = |v: &serde_json::Value| -> Vec<u32> { v.as_array().unwrap().iter().map(|x| (x.as_f64().unwrap() as f32).to_bits()).collect() };
        let (od, nb) = (table.obs_dim, table.body_names.len());
        for (i, line) in lines.iter().enumerate() {
            assert_eq!(line["episode"], table.episode[i]);
            assert_eq!(line["step"], table.step[i]);
            assert_eq!(line["seed"], table.episode_seeds[table.episode[i] as usize]);
            assert_eq!(f32s(&line["obs"]), bits32(&table.observations[i * od..(i + 1) * od]));
            assert_eq!(f32s(&line["next_obs"]), bits32(&table.next_observations[i * od..(i + 1) * od]));
            assert_eq!(f32s(&line["action"]), bits32(&table.actions[i..i + 1]));
            assert_eq!(line["reward"].as_f64().unwrap().to_bits(), table.reward.as_ref().unwrap()[i].to_bits());
            assert_eq!(line["fitness"].as_f64().unwrap().to_bits(), table.fitness[i].to_bits());
            let terms = line["terms"].as_object().unwrap();
            assert_eq!(terms.len(), table.term_names.len());
            for (k, name) in table.term_names.iter().enumerate() {
                assert_eq!(terms[name].as_f64().unwrap().to_bits(), table.terms[k][i].to_bits(), "row {i}: term {name}");
            }
            assert_eq!((line["terminated"].as_bool(), line["truncated"].as_bool()), (Some(table.terminated[i]), Some(table.truncated[i])));
            for (b, body) in table.body_names.iter().enumerate() {
                let at = (i * nb + b) * 7;
                assert_eq!(f32s(&line["poses"][body]), bits32(&table.poses[at..at + 7]), "row {i}: pose of {body}");
            }
        }
    }

    #[test]
    fn a_tampered_rollout_is_refused_naming_the_step_and_the_quantity() {
        let rollout = pushed();
        // Step 5 is record 6 (record 0 is the reset).
        let mut tampered = rollout.clone();
        let Record::Step { fitness, .. } = &mut tampered.records[6] else { panic!("record 6 is a step") };
        *fitness += 0.25;
        match export(&tampered, &mut cartpole()) {
            Err(e @ SimError::Mismatch(_)) => {
                let text = e.to_string();
                assert!(text.starts_with("step 5 (episode 0): fitness differs"), "{text}");
                assert!(text.contains("the env file or the program changed"), "{text}");
            }
            other => panic!("{other:?}"),
        }
        // A physics difference: the pose is compared first.
        let mut tampered = rollout;
        let Record::Step { poses, .. } = &mut tampered.records[3] else { panic!("record 3 is a step") };
        poses[0][0] = f32::from_bits(poses[0][0].to_bits() ^ 1);
        let err = export(&tampered, &mut cartpole()).unwrap_err().to_string();
        assert!(err.starts_with("step 2 (episode 0): pose of body \"cart\" [x] differs"), "{err}");
    }

    #[test]
    fn a_rollout_of_another_env_is_refused() {
        let rollout = pushed();
        let loaded = catalog::resolve("pendulum").unwrap();
        let mut env = Env::new(EnvModel::new(&loaded).unwrap(), None).unwrap();
        let err = export(&rollout, &mut env).unwrap_err().to_string();
        assert!(err.contains("the rollout has 2 bodies, the environment 1"), "{err}");
    }

    #[test]
    fn a_term_that_would_overwrite_another_npz_entry_is_refused() {
        let model = EnvModel::new(&catalog::resolve("cartpole").unwrap()).unwrap();
        let script = |name: &str| model.compile_reward("t.rhai", &format!("fn compute_reward(s) {{ #{{ {name:?}: 1.0, alive: 1.0 }} }}")).unwrap();
        for bad in ["names", "a/b"] {
            let mut env = Env::new(model.clone(), Some(script(bad))).unwrap();
            let rollout = record(&mut env, 1, 5, "zero", |_, a| a[0] = 0.0).unwrap();
            let err = export(&rollout, &mut env).unwrap_err().to_string();
            assert!(err.contains("cannot name an .npz entry"), "{bad}: {err}");
        }
        let mut env = Env::new(model.clone(), Some(script("fine"))).unwrap();
        let rollout = record(&mut env, 1, 5, "zero", |_, a| a[0] = 0.0).unwrap();
        assert!(export(&rollout, &mut env).is_ok());
    }

    #[test]
    fn observation_names_expand_vectors_and_quaternions_to_components() {
        let model = EnvModel::new(&catalog::resolve("reacher").unwrap()).unwrap();
        let names = model.observation_names();
        let expected = "shoulder_cos shoulder_sin elbow_cos elbow_sin shoulder_velocity elbow_velocity goal.x goal.y goal.z to_goal.x to_goal.y to_goal.z";
        assert_eq!(names, expected.split(' ').collect::<Vec<_>>());
        assert_eq!(names.len(), model.obs_dim());
    }
}
