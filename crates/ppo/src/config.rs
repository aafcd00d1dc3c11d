//! PPO's configuration: one documented struct, assembled from layers (PPO's defaults, the env
//! file's tuned `[ppo]` table, a `--config` file, `--set key=value` flags), each layer checked on
//! its own so an error names where the bad key came from.

use serde::{Deserialize, Serialize};

/// Most env instances one training steps at once: each holds a physics world and rollout rows,
/// so a typo (16 000 000) must be refused, not exhaust memory. The GPU benchmarks use 256.
pub const MAX_NUM_ENVS: usize = 16_384;

/// Everything that decides a training run. Defaults are CleanRL's `ppo_continuous_action.py`
/// except where noted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PpoConfig {
    /// Environment steps to train for, over all instances, rounded down to whole rollouts
    /// (`num_envs × num_steps`; at least one). Default 100 000.
    pub total_steps: u64,
    /// Instances stepped in parallel, at most [`MAX_NUM_ENVS`]. Default 16 (CleanRL: 1).
    pub num_envs: usize,
    /// Steps per instance per rollout. Default 128 (CleanRL: 2048 with one env).
    pub num_steps: usize,
    /// Minibatches per epoch, at most the rollout size; if it does not divide the rollout, the
    /// remainder forms one more, smaller minibatch (as in CleanRL). Default 32.
    pub num_minibatches: usize,
    /// Passes over each rollout. Default 10.
    pub update_epochs: usize,
    /// Adam's step size at the start. Default 3e-4.
    pub learning_rate: f32,
    /// Whether the step size decays linearly to 0 over training. Default true.
    pub anneal_lr: bool,
    /// Discount γ. Default 0.99.
    pub gamma: f32,
    /// GAE's λ. Default 0.95.
    pub gae_lambda: f32,
    /// Whether advantages are normalised per minibatch. Default true.
    pub norm_adv: bool,
    /// PPO's ε. Default 0.2.
    pub clip_coef: f32,
    /// Whether the value loss is clipped. Default true.
    pub clip_vloss: bool,
    /// Entropy bonus weight. Default 0.0.
    pub ent_coef: f32,
    /// Value loss weight. Default 0.5.
    pub vf_coef: f32,
    /// Largest global gradient norm. Default 0.5.
    pub max_grad_norm: f32,
    /// Hidden layer widths of both networks. Default [64, 64].
    pub hidden: Vec<usize>,
    /// Initial log σ of the policy. Default 0.0 (σ = 1).
    pub init_log_std: f32,
    /// Normalised observations are clipped to ±this. Default 10.
    pub obs_clip: f32,
    /// Scaled rewards are clipped to ±this. Default 10.
    pub reward_clip: f32,
    /// Master seed: environments, initial weights and sampling derive from it. Default 1.
    pub seed: u64,
    /// Worker threads of the VecEnv (0 = one per core); results do not depend on it. Default 0.
    pub threads: usize,
    /// What trains the networks: `native` (the hand-written CPU MLP, bitwise reproducible) or
    /// `torch` (libtorch through tch, on the CPU or a CUDA device; needs a binary built with the
    /// `torch` feature). Default native. Written out only when not the default, so configurations
    /// and cache keys from before it existed read and hash as they did.
    #[serde(skip_serializing_if = "is_default")]
    pub backend: BackendKind,
    /// Where the networks live: `cpu`, `cuda` (device 0) or `cuda:N`. Default cpu. CUDA needs
    /// the torch backend. Written out only when not the default.
    #[serde(skip_serializing_if = "is_default")]
    pub device: Device,
}

fn is_default<T: Default + PartialEq>(x: &T) -> bool {
    *x == T::default()
}

/// The implementation behind [`crate::backend::Backend`] that a training uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// [`crate::backend::CpuBackend`]: the hand-written MLP, one thread, bitwise reproducible.
    #[default]
    Native,
    /// `TorchBackend` (feature `torch`): libtorch, on the CPU or a CUDA device.
    Torch,
}

impl std::str::FromStr for BackendKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "native" => Ok(Self::Native),
            "torch" => Ok(Self::Torch),
            _ => Err(format!("unknown backend `{s}` (expected native or torch)")),
        }
    }
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Native => "native",
            Self::Torch => "torch",
        })
    }
}

/// A compute device, written as PyTorch writes it: `cpu`, `cuda` (the first GPU) or `cuda:N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Device {
    /// The host's CPU.
    #[default]
    Cpu,
    /// CUDA device N (`cuda` is `cuda:0`).
    Cuda(usize),
}

impl std::str::FromStr for Device {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("unknown device `{s}` (expected cpu, cuda or cuda:N)");
        match s {
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda(0)),
            _ => s.strip_prefix("cuda:").and_then(|n| n.parse().ok()).map(Self::Cuda).ok_or_else(bad),
        }
    }
}

impl TryFrom<String> for Device {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<Device> for String {
    fn from(d: Device) -> String {
        d.to_string()
    }
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl Default for PpoConfig {
    fn default() -> Self {
        Self {
            total_steps: rewardsmith_spec::DEFAULT_TRAINING_STEPS,
            num_envs: 16,
            num_steps: 128,
            num_minibatches: 32,
            update_epochs: 10,
            learning_rate: 3e-4,
            anneal_lr: true,
            gamma: 0.99,
            gae_lambda: 0.95,
            norm_adv: true,
            clip_coef: 0.2,
            clip_vloss: true,
            ent_coef: 0.0,
            vf_coef: 0.5,
            max_grad_norm: 0.5,
            hidden: vec![64, 64],
            init_log_std: 0.0,
            obs_clip: 10.0,
            reward_clip: 10.0,
            seed: 1,
            threads: 0,
            backend: BackendKind::Native,
            device: Device::Cpu,
        }
    }
}

/// A configuration layer that is not a valid part of a [`PpoConfig`].
#[derive(Debug, thiserror::Error)]
#[error("{source_name}: {message}")]
pub struct ConfigError {
    /// Where the layer came from: a file and table (`environments/cartpole.toml [ppo]`), a
    /// `--config` file, or `--set`.
    pub source_name: String,
    /// What is wrong, naming the key (unknown field, wrong type).
    pub message: String,
}

impl PpoConfig {
    /// PPO's defaults overlaid by each layer in order (later layers win key by key). Every layer
    /// must be a valid partial configuration on its own.
    pub fn from_layers<'a>(layers: impl IntoIterator<Item = (&'a str, &'a toml::Table)>) -> Result<Self, ConfigError> {
        let mut merged = toml::Table::new();
        // Which layer set each key last, so that a bad value is reported where it was written.
        let mut origin = std::collections::HashMap::new();
        for (source_name, layer) in layers {
            layer.clone().try_into::<PpoConfig>().map_err(|e| ConfigError { source_name: source_name.to_owned(), message: key_first(&e) })?;
            merged.extend(layer.iter().map(|(k, v)| (k.clone(), v.clone())));
            origin.extend(layer.keys().map(|k| (k.clone(), source_name.to_owned())));
        }
        let cfg: PpoConfig = merged.try_into().map_err(|e| ConfigError { source_name: "configuration".into(), message: key_first(&e) })?;
        cfg.validate().map_err(|message| {
            // validate's messages start with the key: "`learning_rate` must be …".
            let key = message.strip_prefix('`').and_then(|rest| rest.split('`').next());
            let source_name = key.and_then(|k| origin.get(k)).cloned().unwrap_or_else(|| "configuration".into());
            ConfigError { source_name, message }
        })?;
        Ok(cfg)
    }

    /// Checks the values a type cannot: sizes of at least one, finite positive step sizes and
    /// clips, discounts in [0, 1]. The message names the key.
    pub fn validate(&self) -> Result<(), String> {
        let at_least_one =
            [("num_envs", self.num_envs), ("num_steps", self.num_steps), ("num_minibatches", self.num_minibatches), ("update_epochs", self.update_epochs)];
        for (key, value) in at_least_one {
            if value == 0 {
                return Err(format!("`{key}` must be at least 1"));
            }
        }
        if self.num_envs > MAX_NUM_ENVS {
            return Err(format!("`num_envs` must be at most {MAX_NUM_ENVS} instances, not {}", self.num_envs));
        }
        if self.hidden.contains(&0) {
            return Err("`hidden` widths must be at least 1".into());
        }
        let batch = self.num_envs.checked_mul(self.num_steps).ok_or("`num_envs` × `num_steps` is too large")?;
        if self.num_minibatches > batch {
            return Err(format!("`num_minibatches` ({}) exceeds the rollout's {batch} samples (num_envs × num_steps)", self.num_minibatches));
        }
        let positive = [
            ("learning_rate", self.learning_rate),
            ("clip_coef", self.clip_coef),
            ("max_grad_norm", self.max_grad_norm),
            ("obs_clip", self.obs_clip),
            ("reward_clip", self.reward_clip),
        ];
        for (key, value) in positive {
            if !(value.is_finite() && value > 0.0) {
                return Err(format!("`{key}` must be a finite number > 0, not {value}"));
            }
        }
        for (key, value) in [("gamma", self.gamma), ("gae_lambda", self.gae_lambda)] {
            if !(0.0..=1.0).contains(&value) {
                return Err(format!("`{key}` must be in [0, 1], not {value}"));
            }
        }
        for (key, value) in [("ent_coef", self.ent_coef), ("vf_coef", self.vf_coef), ("init_log_std", self.init_log_std)] {
            if !value.is_finite() {
                return Err(format!("`{key}` must be finite, not {value}"));
            }
        }
        if self.backend == BackendKind::Native && self.device != Device::Cpu {
            return Err(format!(
                "`device` {} needs the torch backend (`backend = \"torch\"`, --backend torch): the native backend runs on the CPU",
                self.device
            ));
        }
        Ok(())
    }

    /// One `--set` flag, `key=value`, as a layer: the value is read as TOML (`3e-4`, `true`,
    /// `[64, 64]`), or as a string if it is not TOML.
    pub fn parse_override(text: &str) -> Result<toml::Table, ConfigError> {
        let err = |message: String| ConfigError { source_name: format!("--set {text}"), message };
        let (key, value) = text.split_once('=').ok_or_else(|| err("expected key=value".into()))?;
        let key = key.trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(err(format!("`{key}` is not a configuration key")));
        }
        let value = match format!("v = {}", value.trim()).parse::<toml::Table>() {
            Ok(mut t) => t.remove("v").expect("parsed `v = …`"),
            Err(_) => toml::Value::String(value.trim().to_owned()),
        };
        Ok(toml::Table::from_iter([(key.to_owned(), value)]))
    }
}

/// A toml error as "`key`: what is wrong" (toml puts the key last, on a line of its own).
fn key_first(e: &toml::de::Error) -> String {
    let text = e.to_string();
    match text.trim().rsplit_once("\nin `") {
        Some((message, key)) => format!("`{}`: {}", key.trim_end_matches('`'), message.trim()),
        None => text.trim().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        text.parse().unwrap()
    }

    #[test]
    fn later_layers_win_key_by_key() {
        let env = table("num_envs = 8\nlearning_rate = 1e-3");
        let file = table("learning_rate = 5e-4");
        let set = PpoConfig::parse_override("hidden=[32, 32]").unwrap();
        let cfg = PpoConfig::from_layers([("env", &env), ("file", &file), ("--set", &set)]).unwrap();
        assert_eq!(cfg.num_envs, 8);
        assert_eq!(cfg.learning_rate, 5e-4);
        assert_eq!(cfg.hidden, vec![32, 32]);
        assert_eq!(cfg.num_steps, PpoConfig::default().num_steps);
    }

    #[test]
    fn a_bad_value_is_reported_in_the_layer_that_wrote_it() {
        let env: toml::Table = "learning_rate = -0.1\nnum_envs = 8".parse().unwrap();
        let flags: toml::Table = "num_envs = 4".parse().unwrap();
        let err = PpoConfig::from_layers([("envs/x.toml [ppo]", &env), ("--set num_envs=4", &flags)]).unwrap_err();
        assert_eq!(err.source_name, "envs/x.toml [ppo]", "{err}");
        assert!(err.message.starts_with("`learning_rate` must be a finite number > 0"), "{err}");
        // Overridden by a later layer: that layer is named.
        let fix: toml::Table = "learning_rate = -1.0".parse().unwrap();
        let err = PpoConfig::from_layers([("envs/x.toml [ppo]", &env), ("--config c.toml", &fix)]).unwrap_err();
        assert_eq!(err.source_name, "--config c.toml", "{err}");
    }

    #[test]
    fn a_bad_layer_is_named_with_its_key() {
        let env = table("num_env = 8");
        let e = PpoConfig::from_layers([("environments/x.toml [ppo]", &env)]).unwrap_err().to_string();
        assert!(e.starts_with("environments/x.toml [ppo]: ") && e.contains("num_env"), "{e}");
        let wrong_type = table("gamma = \"high\"");
        let e = PpoConfig::from_layers([("ppo.toml", &wrong_type)]).unwrap_err().to_string();
        assert!(e.starts_with("ppo.toml: `gamma`: invalid type"), "{e}");
        assert!(PpoConfig::parse_override("no equals sign").is_err());
    }

    #[test]
    fn values_that_would_break_training_are_refused_naming_the_key() {
        for (set, key) in [
            ("num_envs=0", "num_envs"),
            ("num_envs=16000000", "num_envs"),
            ("num_minibatches=100000", "num_minibatches"),
            ("obs_clip=-1", "obs_clip"),
            ("reward_clip=nan", "reward_clip"),
            ("learning_rate=nan", "learning_rate"),
            ("max_grad_norm=0", "max_grad_norm"),
            ("gamma=1.5", "gamma"),
            ("hidden=[64, 0]", "hidden"),
        ] {
            let layer = PpoConfig::parse_override(set).unwrap();
            let e = PpoConfig::from_layers([("--set", &layer)]).unwrap_err().to_string();
            assert!(e.contains(&format!("`{key}`")), "{set}: {e}");
        }
        let huge = table("num_envs = 4294967296\nnum_steps = 4294967296");
        assert!(PpoConfig::from_layers([("f", &huge)]).is_err(), "the product overflows");
        assert!(PpoConfig::default().validate().is_ok());
    }

    #[test]
    fn backend_and_device_read_as_pytorch_writes_them_and_cuda_needs_torch() {
        let torch = table("backend = \"torch\"\ndevice = \"cuda:1\"");
        let cfg = PpoConfig::from_layers([("f", &torch)]).unwrap();
        assert_eq!((cfg.backend, cfg.device), (BackendKind::Torch, Device::Cuda(1)));
        assert_eq!("cuda".parse::<Device>(), Ok(Device::Cuda(0)));
        assert!("gpu".parse::<Device>().is_err() && "cuda:x".parse::<Device>().is_err());
        let native_cuda = table("device = \"cuda\"");
        let e = PpoConfig::from_layers([("f", &native_cuda)]).unwrap_err().to_string();
        assert!(e.contains("`device` cuda:0 needs the torch backend"), "{e}");
        let bad = table("device = \"tpu\"");
        assert!(PpoConfig::from_layers([("f", &bad)]).unwrap_err().to_string().contains("`device`"));
    }

    #[test]
    fn a_native_cpu_configuration_serialises_as_before_backends_existed() {
        let text = toml::to_string(&PpoConfig::default()).unwrap();
        assert!(!text.contains("backend") && !text.contains("device"), "{text}");
        let torch = PpoConfig { backend: BackendKind::Torch, device: Device::Cuda(0), ..PpoConfig::default() };
        let text = toml::to_string(&torch).unwrap();
        assert!(text.contains("backend = \"torch\"") && text.contains("device = \"cuda:0\""), "{text}");
        assert_eq!(toml::from_str::<PpoConfig>(&text).unwrap(), torch);
    }
}
