//! `--backend` and `--device`, shared by `train`, `eval` and `search`.

use anyhow::Result;
use rewardsmith_ppo::config::{BackendKind, Device, PpoConfig};

/// Where and with what the networks run.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ComputeArgs {
    /// What runs the networks: native (the hand-written CPU MLP: the default, and the fastest
    /// for PPO's usual 64-wide networks) or torch (libtorch; needs a binary built with
    /// `--features torch`).
    #[arg(long)]
    pub backend: Option<BackendKind>,
    /// Where: cpu, cuda (the first GPU) or cuda:N. A CUDA device implies --backend torch; one
    /// that cannot be used is an error, never a quiet fall back to the CPU.
    #[arg(long)]
    pub device: Option<Device>,
}

impl ComputeArgs {
    /// The flags as a configuration layer over the env file, `--config` and `--set` (empty when
    /// neither is given). `--device cuda` alone also selects the torch backend.
    pub fn layer(&self) -> toml::Table {
        let mut t = toml::Table::new();
        let backend = self.backend.or(match self.device {
            Some(Device::Cuda(_)) => Some(BackendKind::Torch),
            _ => None,
        });
        if let Some(b) = backend {
            t.insert("backend".into(), b.to_string().into());
        }
        if let Some(d) = self.device {
            t.insert("device".into(), d.to_string().into());
        }
        t
    }

    /// Whether either flag was given.
    pub fn given(&self) -> bool {
        self.backend.is_some() || self.device.is_some()
    }
}

/// The backend and device of `cfg` checked before any work (the torch backend in a binary
/// without it, a CUDA device libtorch cannot use), and where training runs, for the log:
/// `native backend on the cpu`, `torch backend on cuda:0 (NVIDIA H200, …)`.
pub fn check(cfg: &PpoConfig) -> Result<String> {
    match cfg.backend {
        BackendKind::Native => Ok("native backend on the cpu".to_owned()),
        #[cfg(feature = "torch")]
        BackendKind::Torch => {
            rewardsmith_ppo::torch::tch_device(cfg.device)?;
            Ok(format!("torch backend on {}", rewardsmith_ppo::torch::describe(cfg.device)))
        }
        #[cfg(not(feature = "torch"))]
        BackendKind::Torch => anyhow::bail!(rewardsmith_ppo::train::NO_TORCH),
    }
}
