//! The agent: a Gaussian policy with a state-independent log standard deviation, a separate value
//! network, and the observation normaliser (saved with the policy, since the policy only
//! understands normalised observations).

use crate::mlp::{Mlp, Tape};
use crate::normalize::{NORM_EPSILON, RunningMeanStd};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Policy, value function and observation statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    /// Observation → action mean.
    pub actor: Mlp<f32>,
    /// log σ per action component, learned, independent of the state.
    pub log_std: Vec<f32>,
    /// Observation → value.
    pub critic: Mlp<f32>,
    /// Running statistics the observations are normalised with.
    pub obs_rms: RunningMeanStd,
}

/// Scale of the actor's output layer at initialisation: near-zero means, so early actions come
/// from the noise (CleanRL initialises this layer orthogonally with gain 0.01).
const ACTOR_OUTPUT_SCALE: f32 = 0.01;

fn init(sizes: Vec<usize>, rng: &mut ChaCha8Rng, output_scale: f32) -> Mlp<f32> {
    // PyTorch's default for Linear layers: U(−1/√fan_in, 1/√fan_in) for weights and biases.
    let layers = sizes.len() - 1;
    let mut params = Vec::with_capacity(Mlp::<f32>::param_count(&sizes));
    for l in 0..layers {
        let bound = 1.0 / (sizes[l] as f32).sqrt();
        let scale = if l + 1 == layers { output_scale } else { 1.0 };
        for _ in 0..sizes[l] * sizes[l + 1] + sizes[l + 1] {
            params.push(rng.random_range(-bound..=bound) * scale);
        }
    }
    Mlp::from_params(sizes, params)
}

impl Agent {
    /// A fresh agent for `obs_dim` observations and `act_dim` actions with the given hidden
    /// widths, initial log σ and seed.
    pub fn new(obs_dim: usize, act_dim: usize, hidden: &[usize], init_log_std: f32, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let sizes = |out: usize| [&[obs_dim][..], hidden, &[out]].concat();
        let actor = init(sizes(act_dim), &mut rng, ACTOR_OUTPUT_SCALE);
        let critic = init(sizes(1), &mut rng, 1.0);
        Self { actor, log_std: vec![init_log_std; act_dim], critic, obs_rms: RunningMeanStd::new(obs_dim) }
    }

    /// Observation length.
    pub fn obs_dim(&self) -> usize {
        self.actor.sizes[0]
    }

    /// Action length.
    pub fn act_dim(&self) -> usize {
        self.log_std.len()
    }

    /// The deterministic action (the mean, clipped to [-1, 1]) for raw observations.
    pub fn act_deterministic(&self, obs: &[f32], clip: f32) -> Vec<f32> {
        let mut norm = vec![0.0; obs.len()];
        self.obs_rms.normalize(obs, clip, &mut norm);
        let mut tape = Tape::default();
        let batch = obs.len() / self.obs_dim();
        self.actor.forward(&norm, batch, &mut tape).iter().map(|a| a.clamp(-1.0, 1.0)).collect()
    }
}

/// Why a policy file cannot be written or read.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The safetensors layer failed (truncated or corrupt file, inconsistent tensor).
    #[error("{0}")]
    Safetensors(#[from] safetensors::SafeTensorError),
    /// A safetensors file, but not one [`Agent::to_safetensors`] wrote.
    #[error("not a rewardsmith policy (metadata `format` is neither {POLICY_FORMAT} nor {POLICY_FORMAT_V1})")]
    NotAPolicy,
    /// A rewardsmith policy whose metadata or tensors are inconsistent.
    #[error("{0}")]
    Malformed(String),
}

/// Value of the `format` metadata key of a policy this build writes (docs/policies.md).
pub const POLICY_FORMAT: &str = "rewardsmith-policy-2";
/// The first format (weights `[in, out]`, tensors `actor.{l}.*`), still read so that older
/// runs and cached trainings load.
pub const POLICY_FORMAT_V1: &str = "rewardsmith-policy-1";

fn f32_bytes(x: &[f32]) -> Vec<u8> {
    x.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn f64_bytes(x: &[f64]) -> Vec<u8> {
    x.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn sizes_text(sizes: &[usize]) -> String {
    sizes.iter().map(usize::to_string).collect::<Vec<_>>().join(",")
}

/// A row-major `rows × cols` matrix transposed.
fn transpose(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    (0..rows * cols).map(|i| x[(i % rows) * cols + i / rows]).collect()
}

/// Tensor names of the networks, as CleanRL's `Agent` (`ppo_continuous_action.py`) names its
/// parameters: `nn.Sequential` indices count the Tanh modules between the Linear layers, so
/// linear layer `l` is module `2l`.
fn layer_name(net: &str, l: usize, part: &str) -> String {
    format!("{net}.{}.{part}", 2 * l)
}

/// `Linear(3, 64), Tanh, Linear(64, 1)`: the module list of one network, for people.
fn layers_text(sizes: &[usize]) -> String {
    let linear = |l: usize| format!("Linear({}, {})", sizes[l], sizes[l + 1]);
    (0..sizes.len() - 1).map(|l| if l + 2 < sizes.len() { format!("{}, Tanh", linear(l)) } else { linear(l) }).collect::<Vec<_>>().join(", ")
}

/// The same file with its JSON header's keys sorted: safetensors writes the metadata map in
/// hash order, which differs between processes, and a seed should give the same file bytes.
/// Sorting keeps the header's length (same keys and values, compact JSON), so the 8-byte length
/// prefix, the padding and the tensor offsets stay valid.
fn sorted_header(mut bytes: Vec<u8>) -> Vec<u8> {
    let len = u64::from_le_bytes(bytes[..8].try_into().expect("8-byte length prefix")) as usize;
    let header = &bytes[8..8 + len];
    let text = std::str::from_utf8(header).expect("safetensors headers are UTF-8").trim_end();
    // serde_json's Map is a BTreeMap (no `preserve_order`), so re-serialising sorts every level.
    let value: serde_json::Value = serde_json::from_str(text).expect("safetensors wrote valid JSON");
    let sorted = serde_json::to_vec(&value).expect("a JSON value serialises");
    assert_eq!(sorted.len(), text.len(), "sorting a compact JSON object keeps its length");
    bytes[8..8 + sorted.len()].copy_from_slice(&sorted);
    bytes
}

impl Agent {
    /// The agent as a safetensors file that describes itself (docs/policies.md has the format and
    /// a numpy-only forward pass).
    ///
    /// Tensors are named and shaped as CleanRL's `Agent`, so PyTorch's `load_state_dict` takes
    /// them: `actor_mean.{0,2,4…}.weight` (f32, `[out, in]` as `torch.nn.Linear`: a layer
    /// computes `x · Wᵀ + b`, then tanh except for the last), `….bias`, `actor_logstd`
    /// (`[1, act_dim]`), `critic.{0,2,4…}.*`, and `obs_rms.mean`, `obs_rms.var`, `obs_rms.count`
    /// (f64). The network computes in `[in, out]` (its gemm's layout), so weights are transposed
    /// on the way out and in; every backend saves through here. The metadata states the layer
    /// order, orientation, activations, the observation normalisation with its ε and the action
    /// clip, plus `extra` (env id and hash, obs_clip, actuators… as the caller records them).
    pub fn to_safetensors(&self, extra: &std::collections::HashMap<String, String>) -> Result<Vec<u8>, PolicyError> {
        use safetensors::tensor::{Dtype, TensorView};
        let mut owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
        for (name, net) in [("actor_mean", &self.actor), ("critic", &self.critic)] {
            for l in 0..net.sizes.len() - 1 {
                let (w, b) = net.layer_ranges(l);
                let (n_in, n_out) = (net.sizes[l], net.sizes[l + 1]);
                owned.push((layer_name(name, l, "weight"), Dtype::F32, vec![n_out, n_in], f32_bytes(&transpose(&net.params[w], n_in, n_out))));
                owned.push((layer_name(name, l, "bias"), Dtype::F32, vec![n_out], f32_bytes(&net.params[b])));
            }
        }
        owned.push(("actor_logstd".into(), Dtype::F32, vec![1, self.log_std.len()], f32_bytes(&self.log_std)));
        owned.push(("obs_rms.mean".into(), Dtype::F64, vec![self.obs_rms.mean.len()], f64_bytes(&self.obs_rms.mean)));
        owned.push(("obs_rms.var".into(), Dtype::F64, vec![self.obs_rms.var.len()], f64_bytes(&self.obs_rms.var)));
        owned.push(("obs_rms.count".into(), Dtype::F64, vec![1], f64_bytes(&[self.obs_rms.count])));
        let views = owned.iter().map(|(n, d, s, b)| TensorView::new(*d, s.clone(), b).map(|v| (n.clone(), v))).collect::<Result<Vec<_>, _>>()?;
        let mut metadata = extra.clone();
        for (key, value) in [
            ("format", POLICY_FORMAT.to_string()),
            ("actor_sizes", sizes_text(&self.actor.sizes)),
            ("critic_sizes", sizes_text(&self.critic.sizes)),
            ("actor_layers", format!("actor_mean = Sequential({})", layers_text(&self.actor.sizes))),
            ("critic_layers", format!("critic = Sequential({})", layers_text(&self.critic.sizes))),
            ("weight_layout", "[out, in] as torch.nn.Linear: y = x @ weight.T + bias".to_string()),
            ("hidden_activation", "tanh".to_string()),
            ("output_activation", "identity".to_string()),
            ("obs_norm_epsilon", NORM_EPSILON.to_string()),
            (
                "obs_normalization",
                "obs_norm = clip((obs - obs_rms.mean) / sqrt(obs_rms.var + obs_norm_epsilon), -obs_clip, obs_clip), computed in float64, then cast to float32"
                    .to_string(),
            ),
            ("action_clip", "-1,1".to_string()),
            (
                "action",
                "deterministic (eval): clip(actor_mean(obs_norm), -1, 1); training samples Normal(actor_mean(obs_norm), exp(actor_logstd)), clipped to [-1, 1] by the env"
                    .to_string(),
            ),
        ] {
            metadata.insert(key.into(), value);
        }
        Ok(sorted_header(safetensors::serialize(views, Some(metadata))?))
    }

    /// Reads what [`Agent::to_safetensors`] wrote (or the first format); returns the agent and
    /// the file's metadata.
    pub fn from_safetensors(bytes: &[u8]) -> Result<(Self, std::collections::HashMap<String, String>), PolicyError> {
        use safetensors::SafeTensors;
        let (_, header) = SafeTensors::read_metadata(bytes)?;
        let metadata = header.metadata().clone().unwrap_or_default();
        let v1 = match metadata.get("format").map(String::as_str) {
            Some(POLICY_FORMAT) => false,
            Some(POLICY_FORMAT_V1) => true,
            _ => return Err(PolicyError::NotAPolicy),
        };
        let st = SafeTensors::deserialize(bytes)?;
        let malformed = PolicyError::Malformed;
        let sizes = |key: &str| -> Result<Vec<usize>, PolicyError> {
            metadata
                .get(key)
                .ok_or_else(|| malformed(format!("metadata `{key}` is missing")))?
                .split(',')
                .map(|x| x.parse().map_err(|_| malformed(format!("metadata `{key}` is not a list of sizes"))))
                .collect()
        };
        let tensor = |name: &str, dtype: safetensors::Dtype| {
            let t = st.tensor(name).map_err(|e| malformed(format!("{name}: {e}")))?;
            if t.dtype() != dtype {
                return Err(malformed(format!("{name}: {:?} where {dtype:?} was expected", t.dtype())));
            }
            Ok(t)
        };
        let floats32 = |name: &str, len: usize| -> Result<Vec<f32>, PolicyError> {
            let t = tensor(name, safetensors::Dtype::F32)?;
            let x: Vec<f32> = t.data().chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect();
            if x.len() != len {
                return Err(malformed(format!("{name}: {} values where the sizes need {len}", x.len())));
            }
            Ok(x)
        };
        let floats64 = |name: &str, len: usize| -> Result<Vec<f64>, PolicyError> {
            let x: Vec<f64> =
                tensor(name, safetensors::Dtype::F64)?.data().chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes"))).collect();
            if x.len() != len {
                return Err(malformed(format!("{name}: {} values where the sizes need {len}", x.len())));
            }
            Ok(x)
        };
        let net = |name: &str, sizes: Vec<usize>| -> Result<Mlp<f32>, PolicyError> {
            let mut params = Vec::with_capacity(Mlp::<f32>::param_count(&sizes));
            for l in 0..sizes.len() - 1 {
                let (n_in, n_out) = (sizes[l], sizes[l + 1]);
                if v1 {
                    params.extend(floats32(&format!("{name}.{l}.weight"), n_in * n_out)?);
                    params.extend(floats32(&format!("{name}.{l}.bias"), n_out)?);
                } else {
                    params.extend(transpose(&floats32(&layer_name(name, l, "weight"), n_in * n_out)?, n_out, n_in));
                    params.extend(floats32(&layer_name(name, l, "bias"), n_out)?);
                }
            }
            Ok(Mlp::from_params(sizes, params))
        };
        let (actor_sizes, critic_sizes) = (sizes("actor_sizes")?, sizes("critic_sizes")?);
        // Both networks read the same observation and the critic gives one value; a mismatch
        // would index past the statistics or the weights later rather than fail here.
        if actor_sizes.len() < 2 || critic_sizes.len() < 2 || actor_sizes[0] != critic_sizes[0] || critic_sizes.last() != Some(&1) {
            return Err(malformed(format!("inconsistent sizes: actor {actor_sizes:?}, critic {critic_sizes:?}")));
        }
        let (obs_dim, act_dim) = (actor_sizes[0], actor_sizes[actor_sizes.len() - 1]);
        let actor = net(if v1 { "actor" } else { "actor_mean" }, actor_sizes)?;
        let critic = net("critic", critic_sizes)?;
        let log_std = floats32(if v1 { "log_std" } else { "actor_logstd" }, act_dim)?;
        let count = floats64("obs_rms.count", 1)?[0];
        let obs_rms = RunningMeanStd { mean: floats64("obs_rms.mean", obs_dim)?, var: floats64("obs_rms.var", obs_dim)?, count };
        let agent = Self { actor, log_std, critic, obs_rms };
        Ok((agent, metadata))
    }
}

/// What `policy.safetensors` carries besides the weights: the env (id, path, hash), the
/// observation clip, and the reward script it was trained with, so `rewardsmith eval` and the
/// viewer can rebuild everything from the file alone.
pub fn policy_metadata(
    model: &rewardsmith_sim::EnvModel,
    reward: Option<&rewardsmith_script::RewardScript>,
    obs_clip: f32,
) -> std::collections::HashMap<String, String> {
    let mut metadata = std::collections::HashMap::new();
    metadata.insert("env_id".to_string(), model.spec().id.clone());
    metadata.insert("env_path".to_string(), model.path().to_owned());
    metadata.insert("env_hash".to_string(), model.hash().to_owned());
    metadata.insert("obs_clip".to_string(), obs_clip.to_string());
    // How an action component in [-1, 1] moves the robot: actuator i scales component i by its
    // `gear` (N, N·m, rad/s, rad… by kind), as the env file declares it.
    let actuators = serde_json::to_string(&model.spec().actuators).expect("actuators serialise");
    metadata.insert("actuators".to_string(), actuators);
    if let Some(r) = reward {
        metadata.insert("reward_script_name".to_string(), r.name().to_owned());
        metadata.insert("reward_script".to_string(), r.source().to_owned());
    }
    metadata
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_and_loaded_agent_acts_identically() {
        let mut agent = Agent::new(5, 2, &[8, 8], -0.5, 11);
        agent.obs_rms.update(&[0.1, 0.2, 0.3, 0.4, 0.5, 1.0, 0.0, -1.0, 2.0, 0.5]);
        let mut extra = std::collections::HashMap::new();
        extra.insert("env_id".to_string(), "test".to_string());
        let bytes = agent.to_safetensors(&extra).unwrap();
        let (loaded, metadata) = Agent::from_safetensors(&bytes).unwrap();
        assert_eq!(loaded, agent);
        assert_eq!(metadata.get("env_id").map(String::as_str), Some("test"));
        let obs = [0.3, -0.2, 0.9, 0.0, 1.5];
        let bits = |a: &Agent| a.act_deterministic(&obs, 10.0).iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&loaded), bits(&agent));
        assert!(Agent::from_safetensors(&bytes[..bytes.len() - 3]).is_err(), "a truncated file is an error");
    }

    #[test]
    fn the_same_agent_and_metadata_give_the_same_file_bytes() {
        let agent = Agent::new(3, 1, &[4], 0.0, 2);
        // Maps with different hash seeds iterate in different orders.
        let files: Vec<Vec<u8>> = (0..4)
            .map(|_| {
                let extra: std::collections::HashMap<String, String> = (0..12).map(|i| (format!("key{i}"), format!("value {i}"))).collect();
                agent.to_safetensors(&extra).unwrap()
            })
            .collect();
        assert!(files.windows(2).all(|w| w[0] == w[1]));
        let (loaded, metadata) = Agent::from_safetensors(&files[0]).unwrap();
        assert_eq!(loaded, agent);
        assert_eq!(metadata["key7"], "value 7");
    }

    /// A layer computes `x · W + b` with `W` stored `[in, out]` in memory; the file holds `Wᵀ`
    /// (`[out, in]`, torch's `nn.Linear`) under CleanRL's module names.
    #[test]
    fn saved_weights_are_out_by_in_under_cleanrl_names() {
        let agent = Agent::new(3, 2, &[4], -0.5, 5);
        let bytes = agent.to_safetensors(&Default::default()).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut names = st.names();
        names.sort();
        assert_eq!(
            names,
            [
                "actor_logstd",
                "actor_mean.0.bias",
                "actor_mean.0.weight",
                "actor_mean.2.bias",
                "actor_mean.2.weight",
                "critic.0.bias",
                "critic.0.weight",
                "critic.2.bias",
                "critic.2.weight",
                "obs_rms.count",
                "obs_rms.mean",
                "obs_rms.var"
            ]
        );
        let w = st.tensor("actor_mean.0.weight").unwrap();
        assert_eq!(w.shape(), [4, 3]);
        let file: Vec<f32> = w.data().chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
        let (range, _) = agent.actor.layer_ranges(0);
        let memory = &agent.actor.params[range];
        for (o, i) in (0..4).flat_map(|o| (0..3).map(move |i| (o, i))) {
            assert_eq!(file[o * 3 + i], memory[i * 4 + o], "W[out={o}][in={i}]");
        }
        assert_eq!(st.tensor("actor_logstd").unwrap().shape(), [1, 2]);
        let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        let meta = header.metadata().clone().unwrap();
        assert_eq!(meta["actor_layers"], "actor_mean = Sequential(Linear(3, 4), Tanh, Linear(4, 2))");
        assert_eq!(meta["obs_norm_epsilon"].parse::<f64>().unwrap(), NORM_EPSILON);
    }

    #[test]
    fn a_policy_whose_tensors_disagree_with_its_sizes_is_malformed() {
        let agent = Agent::new(3, 2, &[4], -0.5, 7);
        let mut bytes = agent.to_safetensors(&Default::default()).unwrap();
        let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        assert_eq!(header.metadata().as_ref().unwrap()["actor_sizes"], "3,4,2");
        // An actor for 5 observations beside a critic for 3 (edited in place: same length).
        let at = bytes.windows(5).position(|w| w == b"3,4,2").unwrap();
        bytes[at] = b'5';
        let err = Agent::from_safetensors(&bytes).unwrap_err().to_string();
        assert!(err.contains("inconsistent sizes"), "{err}");
        bytes[at] = b'3';
        // A critic with two outputs.
        let at = bytes.windows(5).position(|w| w == b"3,4,1").unwrap();
        bytes[at + 4] = b'2';
        let err = Agent::from_safetensors(&bytes).unwrap_err().to_string();
        assert!(err.contains("inconsistent sizes"), "{err}");
    }

    /// Runs and cached trainings written before the `[out, in]` format still load.
    #[test]
    fn policies_of_the_first_format_still_load() {
        use safetensors::tensor::{Dtype, TensorView};
        let mut agent = Agent::new(3, 2, &[4], -0.5, 6);
        agent.obs_rms.update(&[0.5, -1.0, 2.0, 1.5, 0.0, -2.0]);
        let mut owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
        for (name, net) in [("actor", &agent.actor), ("critic", &agent.critic)] {
            for l in 0..net.sizes.len() - 1 {
                let (w, b) = net.layer_ranges(l);
                owned.push((format!("{name}.{l}.weight"), Dtype::F32, vec![net.sizes[l], net.sizes[l + 1]], f32_bytes(&net.params[w])));
                owned.push((format!("{name}.{l}.bias"), Dtype::F32, vec![net.sizes[l + 1]], f32_bytes(&net.params[b])));
            }
        }
        owned.push(("log_std".into(), Dtype::F32, vec![2], f32_bytes(&agent.log_std)));
        owned.push(("obs_rms.mean".into(), Dtype::F64, vec![3], f64_bytes(&agent.obs_rms.mean)));
        owned.push(("obs_rms.var".into(), Dtype::F64, vec![3], f64_bytes(&agent.obs_rms.var)));
        owned.push(("obs_rms.count".into(), Dtype::F64, vec![1], f64_bytes(&[agent.obs_rms.count])));
        let views: Vec<_> = owned.iter().map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap())).collect();
        let metadata = [("format", POLICY_FORMAT_V1), ("actor_sizes", "3,4,2"), ("critic_sizes", "3,4,1")].map(|(k, v)| (k.to_string(), v.to_string()));
        let bytes = safetensors::serialize(views, Some(metadata.into_iter().collect())).unwrap();
        assert_eq!(Agent::from_safetensors(&bytes).unwrap().0, agent);
    }
}
