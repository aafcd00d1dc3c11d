//! Rollout files: a recorded trajectory that the viewer can draw and `replay` can re-simulate
//! from its seed and actions, comparing every quantity bit for bit.
//!
//! # Format (version 1, little-endian)
//!
//! | bytes | content |
//! |---|---|
//! | 8 | magic `RSROLL` followed by the format version as u16 (`1`) |
//! | 4 | u32 `H`, the header's length |
//! | H | UTF-8 JSON header ([`RolloutHeader`]): env id, version, file hash and path, seed, policy, body and term names, the reward script's name and source |
//! | … | records until the end of the file, each starting with a tag byte |
//!
//! Records:
//! - `0x01` reset: u64 episode seed, then per body 7 × f32 pose (x, y, z, qx, qy, qz, qw);
//! - `0x02` step: `action_dim` × f32 action (as applied, clipped), u8 flags (bit 0 terminated,
//!   bit 1 truncated), per body 7 × f32 pose, per reward term f64, f64 fitness.
//!
//! Every episode starts with a reset record; poses are in the world frame (m), body order is the
//! env file's. The [trajectory hash](Rollout::trajectory_hash) is SHA-256 of the record bytes,
//! independent of the header (so of the program version).

use crate::env::{episode_seed, Env};
use crate::SimError;
use serde::{Deserialize, Serialize};
use std::io::Write as _;
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

    /// Writes the file atomically (a temporary file renamed into place).
    pub fn write(&self, path: &Path) -> Result<(), SimError> {
        let io = |source| SimError::Io { path: path.display().to_string(), source };
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(io)?;
        let tmp = dir.join(format!(".{}.tmp", path.file_name().map_or("rollout".into(), |n| n.to_string_lossy())));
        let mut file = std::fs::File::create(&tmp).map_err(io)?;
        file.write_all(&self.to_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// Reads a rollout file.
    pub fn read(path: &Path) -> Result<Self, SimError> {
        let bytes = std::fs::read(path).map_err(|source| SimError::Io { path: path.display().to_string(), source })?;
        Self::from_bytes(&bytes)
            .map_err(|message| SimError::Rollout { path: path.display().to_string(), message })
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
        let header: RolloutHeader =
            serde_json::from_slice(r.take(len)?).map_err(|e| format!("bad header: {e}"))?;
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
                    let action = (0..header.action_dim)
                        .map(|_| r.array().map(f32::from_le_bytes))
                        .collect::<Result<_, _>>()?;
                    let flags = r.take(1)?[0];
                    let poses = read_poses(&mut r)?;
                    let terms = (0..header.terms.len()).map(|_| r.array().map(f64::from_le_bytes)).collect::<Result<_, _>>()?;
                    let fitness = f64::from_le_bytes(r.array()?);
                    Record::Step {
                        action,
                        terminated: flags & FLAG_TERMINATED != 0,
                        truncated: flags & FLAG_TRUNCATED != 0,
                        poses,
                        terms,
                        fitness,
                    }
                }
                t => return Err(format!("unknown record tag {t} at byte {at}")),
            });
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
        write!(
            f,
            "step {} (episode {}): {} differs: recorded {}, replayed {}",
            self.step, self.episode, self.quantity, self.recorded, self.replayed
        )
    }
}

/// Re-simulates `rollout` in `env` (which must carry the rollout's reward script) and compares
/// every recorded quantity bit for bit. `Ok(None)` means identical.
pub fn replay(rollout: &Rollout, env: &mut Env) -> Result<Option<Mismatch>, SimError> {
    let h = &rollout.header;
    let (mut step, mut episode) = (0usize, 0usize);
    let component = ["x", "y", "z", "qx", "qy", "qz", "qw"];
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
    let mismatch = |step, episode, quantity: String, recorded: String, replayed: String| {
        Some(Mismatch { step, episode, quantity, recorded, replayed })
    };
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
            }
            Record::Step { action, terminated, truncated, poses, terms, fitness } => {
                let s = env.step(action).map(|s| Replayed {
                    terminated: s.terminated,
                    truncated: s.truncated,
                    fitness: s.fitness,
                    terms: s.terms.values.clone(),
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
                    return Ok(mismatch(
                        step,
                        episode,
                        "number of reward terms".into(),
                        terms.len().to_string(),
                        s.terms.len().to_string(),
                    ));
                }
                if fitness.to_bits() != s.fitness.to_bits() {
                    return Ok(mismatch(step, episode, "fitness".into(), format!("{fitness:?}"), format!("{:?}", s.fitness)));
                }
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
}
