//! Rollout files: a recorded trajectory that the viewer can draw and `replay` can re-simulate
//! from its seed and actions, comparing every quantity bit for bit.
//!
//! The byte layout (format version 1: a JSON [`RolloutHeader`], then reset and step records) is
//! documented in `docs/rollouts.md`, with how to record a rollout and how to export one to numpy
//! or JSON lines ([`crate::export`]). Every episode starts with a reset record; poses are in the
//! world frame (m), body order is the env file's. The [trajectory hash](Rollout::trajectory_hash)
//! is SHA-256 of the record bytes, independent of the header (so of the program version).

use crate::SimError;
use crate::env::{Env, episode_seed};
use serde::{Deserialize, Serialize};
use std::path::Path;

const MAGIC: &[u8; 6] = b"RSROLL";
/// Version of the rollout format written by this build.
pub const FORMAT_VERSION: u16 = 1;
const TAG_RESET: u8 = 1;
const TAG_STEP: u8 = 2;
const FLAG_TERMINATED: u8 = 1;
const FLAG_TRUNCATED: u8 = 2;

/// The JSON header of a rollout file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutHeader {
    /// Environment id.
    pub env_id: String,
    /// Environment version.
    pub env_version: u32,
    /// Hex SHA-256 of the env file the rollout was recorded with.
    pub env_hash: String,
    /// Where that env file was (a path, or `environments/<id>.toml` for a built-in).
    pub env_path: String,
    /// The seed episode `e` was reset with is `episode_seed(seed, e)`.
    pub seed: u64,
    /// What chose the actions (`random`, `zero`, a policy directory…), for people.
    pub policy: String,
    /// Action length.
    pub action_dim: usize,
    /// Body names in record order.
    pub bodies: Vec<String>,
    /// Reward term names in record order (empty without a reward script).
    pub terms: Vec<String>,
    /// The reward script (name and source), embedded so replay needs nothing else.
    pub reward_script: Option<ScriptSource>,
    /// The rewardsmith version that wrote the file.
    pub writer: String,
}

/// A reward script as stored in a rollout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScriptSource {
    /// Name (path) of the script.
    pub name: String,
    /// Its text.
    pub source: String,
}

/// Pose of a body: position (m) then quaternion (x, y, z, w).
pub type BodyPose = [f32; 7];

/// One record of a rollout.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// The start of an episode.
    Reset {
        /// The episode's reset seed.
        seed: u64,
        /// Body poses after reset.
        poses: Vec<BodyPose>,
    },
    /// One action step.
    Step {
        /// The action applied (after clipping).
        action: Vec<f32>,
        /// Terminated flag.
        terminated: bool,
        /// Truncated flag.
        truncated: bool,
        /// Body poses after the step.
        poses: Vec<BodyPose>,
        /// Reward term values.
        terms: Vec<f64>,
        /// Fitness value of the step.
        fitness: f64,
    },
}

/// A recorded trajectory.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollout {
    /// The header.
    pub header: RolloutHeader,
    /// Resets and steps in order.
    pub records: Vec<Record>,
}

fn poses(env: &Env) -> Vec<BodyPose> {
    env.body_poses().map(|(p, q)| [p[0], p[1], p[2], q[0], q[1], q[2], q[3]]).collect()
}

/// Records `steps` steps of `env` from `seed`, resetting when an episode ends. `policy(obs,
/// action)` writes the next action.
pub fn record<P>(env: &mut Env, seed: u64, steps: usize, policy_name: &str, mut policy: P) -> Result<Rollout, SimError>
where
    P: FnMut(&[f32], &mut [f32]),
{
    let model = env.model().clone();
    let spec = model.spec();
    let mut records = Vec::with_capacity(steps + 1);
    let mut action = vec![0.0f32; spec.action_dim()];
    let mut episode = 0u64;
    let mut needs_reset = true;
    let mut term_names = Vec::new();
    for _ in 0..steps {
        if needs_reset {
            let seed = episode_seed(seed, episode);
            env.reset(seed)?;
            records.push(Record::Reset { seed, poses: poses(env) });
            episode += 1;
        }
        policy(env.obs(), &mut action);
        let step = env.step(&action)?;
        let (terminated, truncated, fitness) = (step.terminated, step.truncated, step.fitness);
        let terms = step.terms.values.clone();
        if term_names.is_empty() {
            term_names = step.terms.names.clone();
        }
        needs_reset = terminated || truncated;
        let applied = env.state().data().action.iter().map(|a| *a as f32).collect();
        records.push(Record::Step { action: applied, terminated, truncated, poses: poses(env), terms, fitness });
    }
    let header = RolloutHeader {
        env_id: spec.id.clone(),
        env_version: spec.version,
        env_hash: model.hash().to_owned(),
        env_path: model.path().to_owned(),
        seed,
        policy: policy_name.to_owned(),
        action_dim: spec.action_dim(),
        bodies: spec.bodies.iter().map(|b| b.name.clone()).collect(),
        terms: term_names,
        reward_script: env.reward_script().map(|s| ScriptSource { name: s.name().to_owned(), source: s.source().to_owned() }),
        writer: format!("rewardsmith {}", env!("CARGO_PKG_VERSION")),
    };
    Ok(Rollout { header, records })
}

impl Rollout {
    /// Number of step records.
    pub fn steps(&self) -> usize {
        self.records.iter().filter(|r| matches!(r, Record::Step { .. })).count()
    }

    /// Number of episodes (reset records).
    pub fn episodes(&self) -> usize {
        self.records.iter().filter(|r| matches!(r, Record::Reset { .. })).count()
    }

    fn encode_records(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let put_poses = |out: &mut Vec<u8>, poses: &[BodyPose]| {
            for p in poses {
                for x in p {
                    out.extend_from_slice(&x.to_le_bytes());
                }
            }
        };
        for r in &self.records {
            match r {
                Record::Reset { seed, poses } => {
                    out.push(TAG_RESET);
                    out.extend_from_slice(&seed.to_le_bytes());
                    put_poses(&mut out, poses);
                }
                Record::Step { action, terminated, truncated, poses, terms, fitness } => {
                    out.push(TAG_STEP);
                    for a in action {
                        out.extend_from_slice(&a.to_le_bytes());
                    }
                    let flags = if *terminated { FLAG_TERMINATED } else { 0 } | if *truncated { FLAG_TRUNCATED } else { 0 };
                    out.push(flags);
                    put_poses(&mut out, poses);
                    for t in terms {
                        out.extend_from_slice(&t.to_le_bytes());
                    }
                    out.extend_from_slice(&fitness.to_le_bytes());
                }
            }
        }
        out
    }

    /// SHA-256 (hex) of the encoded records: a fingerprint of the trajectory alone.
    pub fn trajectory_hash(&self) -> String {
        rewardsmith_spec::sha256_hex(&self.encode_records())
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let header = serde_json::to_vec(&self.header).expect("header serialises");
        let mut out = Vec::with_capacity(14 + header.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(&self.encode_records());
        out
    }

    /// Reads a rollout file.
    pub fn read(path: &Path) -> Result<Self, SimError> {
        let bytes = std::fs::read(path).map_err(|source| SimError::Io { path: path.display().to_string(), source })?;
        Self::from_bytes(&bytes).map_err(|message| SimError::Rollout { path: path.display().to_string(), message })
    }

    /// Decodes a rollout from its bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        let mut r = Reader { bytes, at: 0 };
        if r.take(6)? != MAGIC {
            return Err("not a rollout file (bad magic)".into());
        }
        let version = u16::from_le_bytes(r.array()?);
        if version != FORMAT_VERSION {
            return Err(format!("rollout format {version} is not supported (this build reads {FORMAT_VERSION})"));
        }
        let len = u32::from_le_bytes(r.array()?) as usize;
        let header: RolloutHeader = serde_json::from_slice(r.take(len)?).map_err(|e| format!("bad header: {e}"))?;
        let nb = header.bodies.len();
        let mut records = Vec::new();
        while r.at < bytes.len() {
            let at = r.at;
            let tag = r.take(1)?[0];
            let read_poses = |r: &mut Reader| -> Result<Vec<BodyPose>, String> {
                (0..nb)
                    .map(|_| {
                        let mut p = [0.0f32; 7];
                        for x in &mut p {
                            *x = f32::from_le_bytes(r.array()?);
                        }
                        Ok(p)
                    })
                    .collect()
            };
            records.push(match tag {
                TAG_RESET => {
                    let seed = u64::from_le_bytes(r.array()?);
                    Record::Reset { seed, poses: read_poses(&mut r)? }
                }
                TAG_STEP => {
                    let action = (0..header.action_dim).map(|_| r.array().map(f32::from_le_bytes)).collect::<Result<_, _>>()?;
                    let flags = r.take(1)?[0];
                    if flags & !(FLAG_TERMINATED | FLAG_TRUNCATED) != 0 {
                        return Err(format!("unknown step flags {flags:#04x} at byte {}", r.at - 1));
                    }
                    let poses = read_poses(&mut r)?;
                    let terms = (0..header.terms.len()).map(|_| r.array().map(f64::from_le_bytes)).collect::<Result<_, _>>()?;
                    let fitness = f64::from_le_bytes(r.array()?);
                    Record::Step { action, terminated: flags & FLAG_TERMINATED != 0, truncated: flags & FLAG_TRUNCATED != 0, poses, terms, fitness }
                }
                t => return Err(format!("unknown record tag {t} at byte {at}")),
            });
        }
        // Every episode starts with a reset: first, and after each step that ended one.
        let mut needs_reset = true;
        for (i, record) in records.iter().enumerate() {
            match record {
                Record::Reset { .. } => needs_reset = false,
                Record::Step { .. } if needs_reset => {
                    return Err(format!("record {i} is a step where a reset was expected (episode start)"));
                }
                Record::Step { terminated, truncated, .. } => needs_reset = *terminated || *truncated,
            }
        }
        Ok(Self { header, records })
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.bytes.len());
        let end = end.ok_or_else(|| format!("truncated file: needed {n} bytes at byte {}", self.at))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        Ok(self.take(N)?.try_into().expect("length checked"))
    }
}

/// Where a replay first differed from the recording.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// Global step index (0-based, counting steps across episodes); for a reset record, the index
    /// of the step that follows it.
    pub step: usize,
    /// Episode index (0-based).
    pub episode: usize,
    /// What differed, e.g. `pose of body "pole" [qx]` or `reward term "upright"`.
    pub quantity: String,
    /// Recorded value.
    pub recorded: String,
    /// Re-simulated value.
    pub replayed: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "step {} (episode {}): {} differs: recorded {}, replayed {}", self.step, self.episode, self.quantity, self.recorded, self.replayed)
    }
}

/// Re-simulates `rollout` in `env` (which must carry the rollout's reward script) and compares
/// every recorded quantity bit for bit. `Ok(None)` means identical.
pub fn replay(rollout: &Rollout, env: &mut Env) -> Result<Option<Mismatch>, SimError> {
    replay_with(rollout, env, |_, _| {})
}

/// A record that re-simulated bit for bit, as [`replay_with`] hands it to its visitor (with the
/// env in the state right after it).
pub(crate) enum Verified<'r> {
    /// A reset record: the env holds the episode's first observation.
    Reset {
        /// The episode's reset seed.
        seed: u64,
        /// The recorded poses after reset (equal to the env's).
        poses: &'r [BodyPose],
    },
    /// A step record: the env holds the observation after the step (before any reset).
    Step {
        /// The recorded action (as applied).
        action: &'r [f32],
        /// The recorded poses after the step (equal to the env's).
        poses: &'r [BodyPose],
        /// The recorded reward terms (equal to the env's).
        terms: &'r [f64],
        /// The recorded fitness (equal to the env's).
        fitness: f64,
        /// The recorded flags (equal to the env's).
        terminated: bool,
        /// See `terminated`.
        truncated: bool,
        /// The reward the env reported (the sum of the terms; 0 without a reward script), which
        /// the rollout does not record.
        reward: f64,
    },
}

/// [`replay`], calling `visit` after each record that matched, so a caller can read what the
/// recording does not hold (observations, the reward) from the very re-simulation that was
/// checked. Stops at the first mismatch, without visiting that record.
pub(crate) fn replay_with<V>(rollout: &Rollout, env: &mut Env, mut visit: V) -> Result<Option<Mismatch>, SimError>
where
    V: FnMut(&Env, Verified<'_>),
{
    let h = &rollout.header;
    let (mut step, mut episode) = (0usize, 0usize);
    let component = ["x", "y", "z", "qx", "qy", "qz", "qw"];
    let bodies = env.body_poses().count();
    if h.bodies.len() != bodies {
        return Err(SimError::Rollout { path: h.env_path.clone(), message: format!("the rollout has {} bodies, the environment {bodies}", h.bodies.len()) });
    }
    let compare_poses = |recorded: &[BodyPose], env: &Env, step: usize, episode: usize| {
        for (b, (rec, (p, q))) in recorded.iter().zip(env.body_poses()).enumerate() {
            let now = [p[0], p[1], p[2], q[0], q[1], q[2], q[3]];
            for k in 0..7 {
                if rec[k].to_bits() != now[k].to_bits() {
                    return Some(Mismatch {
                        step,
                        episode,
                        quantity: format!("pose of body {:?} [{}]", h.bodies[b], component[k]),
                        recorded: format!("{:?}", rec[k]),
                        replayed: format!("{:?}", now[k]),
                    });
                }
            }
        }
        None
    };
    let mismatch = |step, episode, quantity: String, recorded: String, replayed: String| Some(Mismatch { step, episode, quantity, recorded, replayed });
    for (i, record) in rollout.records.iter().enumerate() {
        match record {
            Record::Reset { seed, poses } => {
                if i > 0 {
                    episode += 1;
                }
                let expected = episode_seed(h.seed, episode as u64);
                if *seed != expected {
                    return Ok(mismatch(step, episode, "episode seed".into(), seed.to_string(), expected.to_string()));
                }
                env.reset(*seed)?;
                if let Some(m) = compare_poses(poses, env, step, episode) {
                    return Ok(Some(m));
                }
                visit(env, Verified::Reset { seed: *seed, poses });
            }
            Record::Step { action, terminated, truncated, poses, terms, fitness } => {
                let s = env.step(action).map(|s| Replayed {
                    terminated: s.terminated,
                    truncated: s.truncated,
                    fitness: s.fitness,
                    terms: s.terms.values.clone(),
                    reward: s.reward,
                })?;
                // Poses first: a physics difference shows there before it reaches terms or fitness.
                if let Some(m) = compare_poses(poses, env, step, episode) {
                    return Ok(Some(m));
                }
                if (s.terminated, s.truncated) != (*terminated, *truncated) {
                    return Ok(mismatch(
                        step,
                        episode,
                        "episode end (terminated, truncated)".into(),
                        format!("({terminated}, {truncated})"),
                        format!("({}, {})", s.terminated, s.truncated),
                    ));
                }
                for (k, (rec, now)) in terms.iter().zip(&s.terms).enumerate() {
                    if rec.to_bits() != now.to_bits() {
                        let name = h.terms.get(k).map_or("?", String::as_str);
                        return Ok(mismatch(step, episode, format!("reward term {name:?}"), format!("{rec:?}"), format!("{now:?}")));
                    }
                }
                if terms.len() != s.terms.len() {
                    return Ok(mismatch(step, episode, "number of reward terms".into(), terms.len().to_string(), s.terms.len().to_string()));
                }
                if fitness.to_bits() != s.fitness.to_bits() {
                    return Ok(mismatch(step, episode, "fitness".into(), format!("{fitness:?}"), format!("{:?}", s.fitness)));
                }
                visit(env, Verified::Step { action, poses, terms, fitness: *fitness, terminated: *terminated, truncated: *truncated, reward: s.reward });
                step += 1;
            }
        }
    }
    Ok(None)
}

/// The quantities of a re-simulated step, copied out so the env can be borrowed again.
struct Replayed {
    terminated: bool,
    truncated: bool,
    fitness: f64,
    terms: Vec<f64>,
    reward: f64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::EnvModel;
    use rewardsmith_spec::catalog;
    use std::sync::Arc;

    fn header() -> RolloutHeader {
        RolloutHeader {
            env_id: "test".into(),
            env_version: 3,
            env_hash: "ab".repeat(32),
            env_path: "environments/test.toml".into(),
            seed: 0xDEAD_BEEF_0123_4567,
            policy: "random".into(),
            action_dim: 2,
            bodies: vec!["a".into(), "b".into(), "c".into()],
            terms: vec!["alive".into(), "effort".into()],
            reward_script: Some(ScriptSource { name: "r.rhai".into(), source: "fn compute_reward(s) { 1.0 }\n".into() }),
            writer: "rewardsmith 0.0.0".into(),
        }
    }

    fn pose(k: f32) -> BodyPose {
        [k, -k, 0.5 * k, 0.0, -0.0, f32::MIN_POSITIVE / 4.0, 1.0]
    }

    /// Two episodes, three bodies, two terms, every flag combination and some awkward floats
    /// (-0.0, a subnormal, extremes).
    fn sample() -> Rollout {
        let step = |k: f32, terminated, truncated| Record::Step {
            action: vec![k, -1.0],
            terminated,
            truncated,
            poses: vec![pose(k), pose(k + 1.0), pose(-k)],
            terms: vec![1.0, -0.0],
            fitness: f64::from(k) * 1e300,
        };
        Rollout {
            header: header(),
            records: vec![
                Record::Reset { seed: 1, poses: vec![pose(0.0), pose(1.0), pose(2.0)] },
                step(0.25, false, false),
                step(0.5, true, false),
                Record::Reset { seed: u64::MAX, poses: vec![pose(3.0), pose(4.0), pose(5.0)] },
                step(f32::MAX, false, false),
                step(f32::MIN, true, true),
            ],
        }
    }

    #[test]
    fn a_step_before_any_reset_is_rejected() {
        let mut rollout = sample();
        rollout.records.remove(0);
        let err = Rollout::from_bytes(&rollout.to_bytes()).unwrap_err();
        assert!(err.contains("record 0 is a step where a reset was expected"), "{err}");
    }

    #[test]
    fn unknown_step_flags_are_rejected() {
        let rollout = sample();
        let mut bytes = rollout.to_bytes();
        // The first step's flags byte: after the reset record (tag, seed, poses), the step's tag
        // and its action.
        let reset_len = 1 + 8 + 28 * rollout.header.bodies.len();
        let flags_at = records_start(&bytes) + reset_len + 1 + 4 * rollout.header.action_dim;
        bytes[flags_at] = 0x04;
        let err = Rollout::from_bytes(&bytes).unwrap_err();
        assert!(err.contains(&format!("unknown step flags 0x04 at byte {flags_at}")), "{err}");
    }

    /// Offset of the first record (after magic, version, header length and header).
    fn records_start(bytes: &[u8]) -> usize {
        12 + u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize
    }

    #[test]
    fn bytes_round_trip_with_header_and_records() {
        let rollout = sample();
        let bytes = rollout.to_bytes();
        let decoded = Rollout::from_bytes(&bytes).unwrap();
        assert_eq!(decoded, rollout);
        assert_eq!(decoded.to_bytes(), bytes, "bit for bit, -0.0 and subnormals included");
        assert_eq!((decoded.episodes(), decoded.steps()), (2, 4));
        // The documented layout: magic, u16 version, u32 header length, then the records.
        assert_eq!(&bytes[..6], b"RSROLL");
        assert_eq!(u16::from_le_bytes([bytes[6], bytes[7]]), FORMAT_VERSION);
        let (nb, ad, nt) = (3, 2, 2);
        let reset = 1 + 8 + 28 * nb;
        let step = 1 + 4 * ad + 1 + 28 * nb + 8 * nt + 8;
        assert_eq!(bytes.len(), records_start(&bytes) + 2 * reset + 4 * step);
        assert_eq!(bytes[records_start(&bytes)], TAG_RESET);
        assert_eq!(bytes[records_start(&bytes) + reset], TAG_STEP);
    }

    #[test]
    fn an_empty_recording_round_trips() {
        let rollout = Rollout { header: RolloutHeader { terms: vec![], reward_script: None, ..header() }, records: vec![] };
        assert_eq!(Rollout::from_bytes(&rollout.to_bytes()).unwrap(), rollout);
    }

    #[test]
    fn bad_magic_is_rejected() {
        let mut bytes = sample().to_bytes();
        bytes[0] = b'X';
        let err = Rollout::from_bytes(&bytes).unwrap_err();
        assert!(err.contains("bad magic"), "{err}");
        let err = Rollout::from_bytes(b"{\"env_id\": 1}").unwrap_err();
        assert!(err.contains("bad magic"), "{err}");
    }

    #[test]
    fn another_format_version_is_rejected() {
        let mut bytes = sample().to_bytes();
        bytes[6..8].copy_from_slice(&2u16.to_le_bytes());
        let err = Rollout::from_bytes(&bytes).unwrap_err();
        assert!(err.contains("format 2") && err.contains(&FORMAT_VERSION.to_string()), "{err}");
    }

    #[test]
    fn truncated_files_are_rejected_with_the_offset() {
        let bytes = sample().to_bytes();
        let n = bytes.len();
        // Cut inside the last fitness value (8 bytes at n - 8).
        let err = Rollout::from_bytes(&bytes[..n - 1]).unwrap_err();
        assert_eq!(err, format!("truncated file: needed 8 bytes at byte {}", n - 8));
        // Cut inside the header.
        let header_len = records_start(&bytes) - 12;
        let err = Rollout::from_bytes(&bytes[..20]).unwrap_err();
        assert_eq!(err, format!("truncated file: needed {header_len} bytes at byte 12"));
        // Cut right after a tag byte.
        let start = records_start(&bytes);
        let err = Rollout::from_bytes(&bytes[..start + 1]).unwrap_err();
        assert_eq!(err, format!("truncated file: needed 8 bytes at byte {}", start + 1));
        for cut in [0, 3, 7, 11] {
            let err = Rollout::from_bytes(&bytes[..cut]).unwrap_err();
            assert!(err.starts_with("truncated file"), "cut at {cut}: {err}");
        }
    }

    #[test]
    fn unknown_record_tags_are_rejected_with_the_offset() {
        let mut bytes = sample().to_bytes();
        let n = bytes.len();
        bytes.push(7);
        assert_eq!(Rollout::from_bytes(&bytes).unwrap_err(), format!("unknown record tag 7 at byte {n}"));
        let mut bytes = sample().to_bytes();
        let start = records_start(&bytes);
        bytes[start] = 0;
        assert_eq!(Rollout::from_bytes(&bytes).unwrap_err(), format!("unknown record tag 0 at byte {start}"));
    }

    #[test]
    fn a_malformed_header_is_rejected() {
        let mut bytes = sample().to_bytes();
        bytes[12] = b'[';
        let err = Rollout::from_bytes(&bytes).unwrap_err();
        assert!(err.starts_with("bad header"), "{err}");
    }

    #[test]
    fn write_then_read_round_trips_and_read_errors_name_the_file() {
        let dir = std::env::temp_dir().join(format!("rewardsmith-sim-rollout-test-{}", std::process::id()));
        let path = dir.join("sub/a.rollout");
        let rollout = sample();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, rollout.to_bytes()).unwrap();
        assert_eq!(Rollout::read(&path).unwrap(), rollout);
        std::fs::write(&path, b"garbage").unwrap();
        match Rollout::read(&path) {
            Err(SimError::Rollout { path: p, message }) => {
                assert_eq!(p, path.display().to_string());
                assert!(message.contains("bad magic"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(Rollout::read(&dir.join("missing.rollout")), Err(SimError::Io { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn trajectory_hash_ignores_the_header_but_sees_one_pose_bit() {
        let rollout = sample();
        let hash = rollout.trajectory_hash();
        assert_eq!(hash.len(), 64);
        let mut relabelled = rollout.clone();
        relabelled.header.writer = "rewardsmith 9.9.9".into();
        relabelled.header.policy = "zero".into();
        assert_ne!(relabelled.to_bytes(), rollout.to_bytes());
        assert_eq!(relabelled.trajectory_hash(), hash, "writer and policy are not part of the trajectory");
        for record in [1, 3] {
            let mut flipped = rollout.clone();
            match &mut flipped.records[record] {
                Record::Step { poses, .. } | Record::Reset { poses, .. } => {
                    poses[2][4] = f32::from_bits(poses[2][4].to_bits() ^ 1);
                }
            }
            assert_ne!(flipped.trajectory_hash(), hash, "record {record}: one flipped pose bit");
        }
    }

    // Replay against the real simulator (cartpole with its human reward).

    fn cartpole() -> Env {
        let model = EnvModel::new(&catalog::resolve("cartpole").unwrap()).unwrap();
        let (name, source) = catalog::reward_script("cartpole", "human.rhai").unwrap();
        let reward = model.compile_reward(name, source).unwrap();
        Env::new(Arc::clone(&model), Some(reward)).unwrap()
    }

    /// Indices into `records` of the step records, and the episode of each.
    fn steps_of(rollout: &Rollout) -> Vec<(usize, usize)> {
        let mut episode = 0;
        let mut out = Vec::new();
        for (i, r) in rollout.records.iter().enumerate() {
            match r {
                Record::Reset { .. } if i > 0 => episode += 1,
                Record::Reset { .. } => {}
                Record::Step { .. } => out.push((i, episode)),
            }
        }
        out
    }

    fn step_mut(rollout: &mut Rollout, record: usize) -> (&mut Vec<BodyPose>, &mut Vec<f64>, &mut f64) {
        match &mut rollout.records[record] {
            Record::Step { poses, terms, fitness, .. } => (poses, terms, fitness),
            Record::Reset { .. } => panic!("record {record} is a reset"),
        }
    }

    #[test]
    fn replay_matches_and_finds_a_flipped_pose_bit_and_a_changed_fitness() {
        let mut env = cartpole();
        let rollout = record(&mut env, 11, 12, "wiggle", |obs, a| a[0] = if obs[2] > 0.0 { 0.7 } else { -0.7 }).unwrap();
        assert_eq!((rollout.episodes(), rollout.steps()), (1, 12));
        assert_eq!(rollout.header.terms.len(), 4, "{:?}", rollout.header.terms);
        assert_eq!(rollout.header.bodies, ["cart", "pole"]);
        assert_eq!(replay(&rollout, &mut cartpole()).unwrap(), None);

        // Step 5 is record 6 (record 0 is the reset).
        let mut tampered = rollout.clone();
        let (poses, _, _) = step_mut(&mut tampered, 6);
        poses[1][3] = f32::from_bits(poses[1][3].to_bits() ^ 1);
        let m = replay(&tampered, &mut cartpole()).unwrap().expect("a flipped bit is found");
        assert_eq!((m.step, m.episode), (5, 0));
        assert_eq!(m.quantity, "pose of body \"pole\" [qx]");
        assert_ne!(m.recorded, m.replayed);

        let mut tampered = rollout.clone();
        *step_mut(&mut tampered, 9).2 += 0.5;
        let m = replay(&tampered, &mut cartpole()).unwrap().expect("a changed fitness is found");
        assert_eq!((m.step, m.episode, m.quantity.as_str()), (8, 0, "fitness"));

        let mut tampered = rollout.clone();
        let (_, terms, _) = step_mut(&mut tampered, 2);
        terms[1] = f64::from_bits(terms[1].to_bits() ^ 1);
        let m = replay(&tampered, &mut cartpole()).unwrap().expect("a changed term is found");
        assert_eq!((m.step, m.episode), (1, 0));
        assert_eq!(m.quantity, format!("reward term {:?}", rollout.header.terms[1]));
        assert!(m.to_string().starts_with("step 1 (episode 0): reward term"), "{m}");
    }

    #[test]
    fn replay_of_several_episodes_checks_seeds_and_counts_steps_across_episodes() {
        let mut env = cartpole();
        // A constant push topples the pole within a few dozen steps.
        let rollout = record(&mut env, 5, 90, "push", |_, a| a[0] = 1.0).unwrap();
        assert!(rollout.episodes() >= 2, "{} episodes", rollout.episodes());
        let seeds: Vec<u64> = rollout.records.iter().filter_map(|r| if let Record::Reset { seed, .. } = r { Some(*seed) } else { None }).collect();
        let expected: Vec<u64> = (0..seeds.len() as u64).map(|e| episode_seed(5, e)).collect();
        assert_eq!(seeds, expected);
        assert_eq!(replay(&rollout, &mut cartpole()).unwrap(), None);

        let steps = steps_of(&rollout);
        let first_of_episode_1 = steps.iter().position(|(_, e)| *e == 1).unwrap();

        // A reset record with another episode's seed.
        let mut tampered = rollout.clone();
        let reset_1 = steps[first_of_episode_1].0 - 1;
        let Record::Reset { seed, .. } = &mut tampered.records[reset_1] else { panic!("record {reset_1}") };
        *seed = episode_seed(5, 7);
        let m = replay(&tampered, &mut cartpole()).unwrap().expect("a wrong seed is found");
        assert_eq!((m.step, m.episode, m.quantity.as_str()), (first_of_episode_1, 1, "episode seed"));
        assert_eq!(m.recorded, episode_seed(5, 7).to_string());
        assert_eq!(m.replayed, episode_seed(5, 1).to_string());

        // A pose bit in the third step of episode 1: the global step index counts episode 0's steps.
        let mut tampered = rollout.clone();
        let (record_index, episode) = steps[first_of_episode_1 + 2];
        assert_eq!(episode, 1);
        let (poses, _, _) = step_mut(&mut tampered, record_index);
        poses[0][0] = f32::from_bits(poses[0][0].to_bits() ^ 1);
        let m = replay(&tampered, &mut cartpole()).unwrap().expect("a flipped bit is found");
        assert_eq!((m.step, m.episode), (first_of_episode_1 + 2, 1));
        assert_eq!(m.quantity, "pose of body \"cart\" [x]");
    }
}
