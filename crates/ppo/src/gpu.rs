//! What `nvidia-smi` says about a CUDA device (name, memory), for training logs and for sizing
//! how many trainings share one GPU. Needs no CUDA library, so it is in every build: a machine
//! without `nvidia-smi` gets None. libtorch's C++ API has no call for a device's name or free
//! memory.

use crate::config::PpoConfig;

/// One CUDA device as `nvidia-smi` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuInfo {
    /// The device's name (`NVIDIA H200`).
    pub name: String,
    /// Memory in all, MiB.
    pub total_mib: u64,
    /// Memory free now, MiB.
    pub free_mib: u64,
}

impl std::fmt::Display for GpuInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}, {} MiB, {} MiB free", self.name, self.total_mib, self.free_mib)
    }
}

/// CUDA device `index` as libtorch numbers them (after `CUDA_VISIBLE_DEVICES`); None without
/// `nvidia-smi`, or when it fails.
pub fn query(index: usize) -> Option<GpuInfo> {
    let id = smi_id(index, std::env::var("CUDA_VISIBLE_DEVICES").ok().as_deref());
    let out = std::process::Command::new("nvidia-smi")
        .args(["--query-gpu=name,memory.total,memory.free", "--format=csv,noheader,nounits", &format!("--id={id}")])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    parse(&String::from_utf8(out.stdout).ok()?)
}

/// What `nvidia-smi --id` calls CUDA device `index`: `nvidia-smi` ignores
/// `CUDA_VISIBLE_DEVICES`, so the index goes through that list (of indices or UUIDs) first.
fn smi_id(index: usize, visible: Option<&str>) -> String {
    visible.and_then(|v| v.split(',').map(str::trim).filter(|d| !d.is_empty()).nth(index).map(str::to_owned)).unwrap_or_else(|| index.to_string())
}

/// `nvidia-smi`'s CSV line: `NVIDIA H200, 143771, 143000`.
fn parse(text: &str) -> Option<GpuInfo> {
    let mut fields = text.lines().next()?.rsplitn(3, ',').map(str::trim);
    let free_mib = fields.next()?.parse().ok()?;
    let total_mib = fields.next()?.parse().ok()?;
    Some(GpuInfo { name: fields.next()?.to_owned(), total_mib, free_mib })
}

/// Bytes of device memory one training takes at most, estimated from its shapes: every
/// parameter four times (weights, gradient, Adam's two moments), and for the largest batch it
/// pushes through (a minibatch, or the rollout's instances) each layer's output, kept for the
/// backward pass, and its gradient, of both networks, with the same again for libtorch's
/// temporaries; plus a fixed allowance for cuBLAS's workspace. libtorch's CUDA context is paid
/// once per process, not per training, and is not in it.
pub fn training_bytes(cfg: &PpoConfig, obs_dim: usize, act_dim: usize) -> u64 {
    const F32: u64 = 4;
    const CUBLAS_WORKSPACE: u64 = 64 << 20;
    let net = |out: usize| [&[obs_dim][..], &cfg.hidden, &[out]].concat();
    let params = |sizes: &[usize]| sizes.windows(2).map(|w| (w[0] * w[1] + w[1]) as u64).sum::<u64>();
    let widths = |sizes: &[usize]| sizes.iter().map(|w| *w as u64).sum::<u64>();
    let (actor, critic) = (net(act_dim), net(1));
    let batch = (cfg.num_envs * cfg.num_steps / cfg.num_minibatches.max(1)).max(cfg.num_envs) as u64;
    let weights = 4 * (params(&actor) + params(&critic) + act_dim as u64);
    let activations = 4 * batch * (widths(&actor) + widths(&critic));
    (weights + activations) * F32 + CUBLAS_WORKSPACE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nvidia_smi_lines_are_read_with_commas_in_the_name() {
        assert_eq!(parse("NVIDIA H200, 143771, 143000\n"), Some(GpuInfo { name: "NVIDIA H200".into(), total_mib: 143771, free_mib: 143000 }));
        assert_eq!(parse("Weird, Inc. GPU, 10, 5").map(|g| g.name), Some("Weird, Inc. GPU".into()));
        assert_eq!(parse("No devices were found"), None);
    }

    #[test]
    fn a_cuda_index_is_looked_up_in_cuda_visible_devices_for_nvidia_smi() {
        assert_eq!(smi_id(0, None), "0");
        assert_eq!(smi_id(1, Some("3,5")), "5");
        assert_eq!(smi_id(0, Some("GPU-8f2c")), "GPU-8f2c");
        assert_eq!(smi_id(2, Some("3,5")), "2", "past the list: libtorch would refuse it anyway");
    }

    #[test]
    fn the_memory_estimate_grows_with_width_and_minibatch() {
        let small = PpoConfig::default();
        let wide = PpoConfig { hidden: vec![256, 256], ..small.clone() };
        let big_batch = PpoConfig { num_minibatches: 1, ..small.clone() };
        let base = training_bytes(&small, 16, 4);
        assert!(training_bytes(&wide, 16, 4) > base && training_bytes(&big_batch, 16, 4) > base);
        // 16 × 128 samples / 32 minibatches = 64 rows; the 64 MiB allowance dominates.
        assert!(base > 64 << 20 && base < 70 << 20, "{base}");
    }
}
