//! The libtorch backend (feature `torch`): the same networks, loss split and Adam as
//! [`CpuBackend`](crate::backend::CpuBackend), as tch tensors on the CPU or a CUDA device.
//!
//! What it is for: wide networks and large minibatches, where a GPU multiplies matrices far
//! faster than the hand-written MLP (BENCHMARKS.md, "GPU"). For PPO's usual 64-wide networks the
//! native backend is faster on a CPU, so it stays the default.
//!
//! All parameters live in one flat leaf tensor laid out as [`Agent`]'s: the actor's layers
//! ([`Mlp`]'s layout: each layer's `in × out` weights, row-major, then its biases), then log σ,
//! then the critic's layers. Layers are views into it, so one autograd call gives one flat
//! gradient, and clipping and Adam are a handful of kernels over it, whatever the depth.
//! Weights are [`Agent`]s at both ends ([`Backend::save`] / [`Backend::load`]), so a policy
//! trained here is the same `policy.safetensors` the native backend reads, and the other way
//! round.

use crate::adam::AdamConfig;
use crate::agent::Agent;
use crate::backend::Backend;
use crate::config::Device;
use crate::mlp::{Mlp, Tape};
use crate::normalize::RunningMeanStd;
use tch::{Kind, Tensor};

/// Why a torch backend cannot be made on the device asked for. Never a silent fallback to the
/// CPU: a training that asked for CUDA and cannot have it stops with one of these.
#[derive(Debug, thiserror::Error)]
pub enum TorchError {
    /// libtorch was loaded without its CUDA library: a CPU-only libtorch, or a binary linked
    /// without `libtorch_cuda.so` (the linker drops it unless told `--no-as-needed`).
    #[error(
        "{device} was asked for, but this libtorch has no CUDA support: libtorch_cuda.so is not loaded \
         (a CPU-only PyTorch/libtorch, or a binary linked without `-Wl,--no-as-needed -ltorch_cuda`; README, \"GPU training\")"
    )]
    NoCudaSupport {
        /// The device asked for.
        device: Device,
    },
    /// libtorch has CUDA support but sees fewer devices than the index asked for (no GPU, no
    /// driver, or `CUDA_VISIBLE_DEVICES` hides it).
    #[error("{device} was asked for, but libtorch sees {count} CUDA device(s) (is a GPU and its driver visible? CUDA_VISIBLE_DEVICES?)")]
    NoDevice {
        /// The device asked for.
        device: Device,
        /// Devices libtorch sees.
        count: i64,
    },
}

/// The tch device for `device`, after checking that libtorch can use it.
///
/// On the CPU, libtorch's intra-op threads are set to 1 for the whole process: results must not
/// depend on the thread count, and a search gets its parallelism from training several
/// candidates at once.
pub fn tch_device(device: Device) -> Result<tch::Device, TorchError> {
    match device {
        Device::Cpu => {
            tch::set_num_threads(1);
            Ok(tch::Device::Cpu)
        }
        Device::Cuda(index) => {
            // The CUDA runtime is there when libtorch_cuda is loaded, GPU or not (`has_cuda`
            // would also say false on a machine without a GPU).
            if !tch::utils::has_cudart() {
                return Err(TorchError::NoCudaSupport { device });
            }
            let count = tch::Cuda::device_count();
            if index as i64 >= count {
                return Err(TorchError::NoDevice { device, count });
            }
            Ok(tch::Device::Cuda(index))
        }
    }
}

/// What a training log says about where it runs: `cpu (libtorch, 1 intra-op thread(s))` or
/// `cuda:0 (NVIDIA H200, 143771 MiB, 143000 MiB free)`.
pub fn describe(device: Device) -> String {
    match device {
        Device::Cpu => format!("cpu (libtorch, {} intra-op thread(s))", tch::get_num_threads()),
        Device::Cuda(index) => match crate::gpu::query(index) {
            Some(info) => format!("{device} ({info})"),
            None => format!("{device} (nvidia-smi not available: name unknown)"),
        },
    }
}

/// Offsets of one network's layers in the flat parameter tensor.
#[derive(Debug, Clone)]
struct Net {
    sizes: Vec<usize>,
    /// Where the network's first parameter is in the flat tensor.
    start: usize,
}

impl Net {
    fn len(&self) -> usize {
        Mlp::<f32>::param_count(&self.sizes)
    }

    /// tanh hidden layers, a linear output layer: `x · W + b` per layer, as [`Mlp::forward`].
    fn forward(&self, params: &Tensor, x: &Tensor) -> Tensor {
        let layers = self.sizes.len() - 1;
        let mut h = x.shallow_clone();
        let mut at = self.start as i64;
        for l in 0..layers {
            let (n_in, n_out) = (self.sizes[l] as i64, self.sizes[l + 1] as i64);
            let w = params.narrow(0, at, n_in * n_out).view([n_in, n_out]);
            let b = params.narrow(0, at + n_in * n_out, n_out);
            at += n_in * n_out + n_out;
            h = b.addmm(&h, &w);
            if l + 1 < layers {
                h = h.tanh();
            }
        }
        h
    }
}

/// The networks of an [`Agent`] as libtorch tensors on one device, trained with Adam.
#[derive(Debug)]
pub struct TorchBackend {
    device: tch::Device,
    actor: Net,
    critic: Net,
    /// Where log σ is in the flat tensor, and its length.
    log_std_at: usize,
    act_dim: usize,
    /// Every parameter, one leaf tensor that requires gradients.
    params: Tensor,
    /// The gradient of the last [`Backend::backward`].
    grad: Tensor,
    adam: AdamConfig,
    adam_m: Tensor,
    adam_v: Tensor,
    adam_t: i32,
    /// The last forward pass's outputs, on the device, with their autograd graph.
    means: Tensor,
    values: Tensor,
    /// The same, copied to the host for the loop's PPO arithmetic.
    host_means: Vec<f32>,
    host_values: Vec<f32>,
    /// log σ on the host, refreshed after every change.
    host_log_std: Vec<f32>,
    /// The weights copied to the host for [`Backend::act`], run by the native MLP; None once an
    /// optimiser step or a load has changed them, copied again at the next `act`.
    mirror: Option<HostMirror>,
}

/// A host copy of the networks and the native forward pass's scratch.
#[derive(Debug)]
struct HostMirror {
    agent: Agent,
    actor_tape: Tape<f32>,
    critic_tape: Tape<f32>,
}

fn flat(agent: &Agent) -> Vec<f32> {
    [&agent.actor.params[..], &agent.log_std, &agent.critic.params].concat()
}

/// A contiguous f32 tensor's elements, copied to the host.
fn to_host(t: &Tensor, out: &mut Vec<f32>) {
    let n = t.numel();
    out.resize(n, 0.0);
    t.copy_data(out, n);
}

impl TorchBackend {
    /// A backend training `agent`'s networks on `device` with Adam (`adam.lr` is replaced by the
    /// step size given to each [`Backend::optimizer_step`]); see [`tch_device`].
    pub fn new(agent: &Agent, adam: AdamConfig, device: Device) -> Result<Self, TorchError> {
        let device = tch_device(device)?;
        let actor = Net { sizes: agent.actor.sizes.clone(), start: 0 };
        let log_std_at = actor.len();
        let act_dim = agent.log_std.len();
        let critic = Net { sizes: agent.critic.sizes.clone(), start: log_std_at + act_dim };
        let params = Tensor::from_slice(&flat(agent)).to_device(device).set_requires_grad(true);
        let zeros = || params.zeros_like().detach();
        Ok(Self {
            device,
            actor,
            critic,
            log_std_at,
            act_dim,
            grad: zeros(),
            adam,
            adam_m: zeros(),
            adam_v: zeros(),
            adam_t: 0,
            params,
            means: Tensor::new(),
            values: Tensor::new(),
            host_means: Vec::new(),
            host_values: Vec::new(),
            host_log_std: agent.log_std.clone(),
            mirror: None,
        })
    }

    /// The deterministic action (the mean, clipped to [-1, 1]) for raw observations, normalised
    /// with `obs_rms` as [`Agent::act_deterministic`] does, the network run on this backend.
    pub fn act_deterministic(&mut self, obs_rms: &RunningMeanStd, obs: &[f32], clip: f32) -> Vec<f32> {
        let mut norm = vec![0.0; obs.len()];
        obs_rms.normalize(obs, clip, &mut norm);
        let batch = obs.len() / obs_rms.mean.len();
        let x = self.upload(&norm, batch);
        let means = tch::no_grad(|| self.actor.forward(&self.params, &x));
        let mut out = Vec::new();
        to_host(&means, &mut out);
        out.iter().map(|a| a.clamp(-1.0, 1.0)).collect()
    }

    fn log_std_view(&self) -> Tensor {
        self.params.narrow(0, self.log_std_at as i64, self.act_dim as i64)
    }

    fn refresh_log_std(&mut self) {
        let log_std = self.log_std_view().detach();
        to_host(&log_std, &mut self.host_log_std);
    }

    fn upload(&self, data: &[f32], rows: usize) -> Tensor {
        let cols = (data.len() / rows.max(1)) as i64;
        Tensor::from_slice(data).view([rows as i64, cols]).to_device(self.device)
    }
}

impl Backend for TorchBackend {
    fn forward(&mut self, obs: &[f32], batch: usize) -> (&[f32], &[f32]) {
        let x = self.upload(obs, batch);
        self.means = self.actor.forward(&self.params, &x);
        self.values = self.critic.forward(&self.params, &x).view([batch as i64]);
        to_host(&self.means.detach(), &mut self.host_means);
        to_host(&self.values.detach(), &mut self.host_values);
        (&self.host_means, &self.host_values)
    }

    /// On the host copy of the weights: a rollout's one batch per environment step is latency,
    /// not arithmetic, and a GPU round trip per step made ant's searches 3× slower than the
    /// native backend (BENCHMARKS.md, "GPU"). The host MLP agrees with libtorch's to ~1e-6.
    fn act(&mut self, obs: &[f32], batch: usize) -> (&[f32], &[f32]) {
        if self.mirror.is_none() {
            let agent = self.save(&RunningMeanStd::new(self.actor.sizes[0]));
            self.mirror = Some(HostMirror { agent, actor_tape: Tape::default(), critic_tape: Tape::default() });
        }
        let m = self.mirror.as_mut().expect("made above");
        let means = m.agent.actor.forward(obs, batch, &mut m.actor_tape);
        let values = m.agent.critic.forward(obs, batch, &mut m.critic_tape);
        (means, values)
    }

    fn log_std(&self) -> &[f32] {
        &self.host_log_std
    }

    fn backward(&mut self, d_means: &[f32], d_values: &[f32], d_log_std: &[f32]) {
        // A scalar whose gradient with respect to the outputs is exactly the given derivatives:
        // Σ means ⊙ d_means + Σ values ⊙ d_values + Σ log σ ⊙ d_log σ.
        let d_means = self.upload(d_means, self.host_values.len());
        let d_values = Tensor::from_slice(d_values).to_device(self.device);
        let d_log_std = Tensor::from_slice(d_log_std).to_device(self.device);
        let surrogate =
            (&self.means * &d_means).sum(Kind::Float) + (&self.values * &d_values).sum(Kind::Float) + (self.log_std_view() * &d_log_std).sum(Kind::Float);
        let mut grads = Tensor::run_backward(&[surrogate], &[&self.params], false, false);
        self.grad = grads.pop().expect("one gradient per input");
    }

    fn clip_grad_norm(&mut self, max_norm: f32) -> f32 {
        let norm = self.grad.norm().double_value(&[]) as f32;
        if norm > max_norm {
            // PyTorch's clip_grad_norm_ adds the same 1e-6 to the norm.
            let k = max_norm / (norm + 1e-6);
            let _ = self.grad.g_mul_scalar_(f64::from(k));
        }
        norm
    }

    fn optimizer_step(&mut self, lr: f32) {
        // The update of crate::adam::Adam, kernel by kernel on the flat tensors.
        let cfg = self.adam;
        self.adam_t += 1;
        let c1 = 1.0 - cfg.beta1.powi(self.adam_t);
        let c2 = 1.0 - cfg.beta2.powi(self.adam_t);
        tch::no_grad(|| {
            let g = &self.grad;
            let _ = self.adam_m.g_mul_scalar_(f64::from(cfg.beta1)).g_add_(&(g * f64::from(1.0 - cfg.beta1)));
            let _ = self.adam_v.g_mul_scalar_(f64::from(cfg.beta2)).g_add_(&(g * f64::from(1.0 - cfg.beta2) * g));
            let step = (&self.adam_m / f64::from(c1)) * f64::from(lr) / ((&self.adam_v / f64::from(c2)).sqrt() + f64::from(cfg.eps));
            let _ = self.params.g_sub_(&step);
        });
        self.mirror = None;
        self.refresh_log_std();
    }

    fn save(&self, obs_rms: &RunningMeanStd) -> Agent {
        let mut host = Vec::new();
        to_host(&self.params.detach(), &mut host);
        let (actor, rest) = host.split_at(self.actor.len());
        let (log_std, critic) = rest.split_at(self.act_dim);
        Agent {
            actor: Mlp::from_params(self.actor.sizes.clone(), actor.to_vec()),
            log_std: log_std.to_vec(),
            critic: Mlp::from_params(self.critic.sizes.clone(), critic.to_vec()),
            obs_rms: obs_rms.clone(),
        }
    }

    fn load(&mut self, agent: &Agent) {
        assert_eq!(
            (&agent.actor.sizes, &agent.critic.sizes),
            (&self.actor.sizes, &self.critic.sizes),
            "load: the agent's networks have other sizes than the backend's"
        );
        let src = Tensor::from_slice(&flat(agent)).to_device(self.device);
        tch::no_grad(|| self.params.copy_(&src));
        self.mirror = None;
        self.refresh_log_std();
    }
}

#[cfg(test)]
mod tests {
    //! The torch backend against the native one, on the same weights and inputs (CPU libtorch;
    //! runs in CI). "Relative error" is ‖a − b‖₂ / ‖b‖₂ over a whole output or gradient, so
    //! entries that cancel to near zero do not make it meaningless.
    use super::*;
    use crate::backend::CpuBackend;

    fn rel_err(a: &[f32], b: &[f32]) -> f64 {
        assert_eq!(a.len(), b.len());
        let diff: f64 = a.iter().zip(b).map(|(x, y)| f64::from(x - y).powi(2)).sum::<f64>().sqrt();
        let norm: f64 = b.iter().map(|y| f64::from(*y).powi(2)).sum::<f64>().sqrt();
        diff / norm.max(f64::MIN_POSITIVE)
    }

    /// `n` numbers in [-scale, scale] from a fixed stream.
    fn noise(n: usize, seed: u64, scale: f32) -> Vec<f32> {
        crate::mlp::noise(n, seed).iter().map(|x| *x as f32 * scale).collect()
    }

    /// Both backends on the same agent; `batch` observations of `obs_dim`.
    fn pair(obs_dim: usize, act_dim: usize, hidden: &[usize]) -> (CpuBackend, TorchBackend) {
        let mut agent = Agent::new(obs_dim, act_dim, hidden, -0.3, 9);
        // A larger output layer than the 0.01 initialisation, so the outputs are not all ≈ 0.
        agent.actor.params.iter_mut().for_each(|p| *p *= 3.0);
        let torch = TorchBackend::new(&agent, AdamConfig::default(), Device::Cpu).unwrap();
        (CpuBackend::new(agent, AdamConfig::default()), torch)
    }

    #[test]
    fn outputs_and_gradients_match_the_native_backend() {
        for (hidden, batch) in [(vec![64, 64], 256), (vec![256, 256], 64), (vec![5], 7)] {
            let (obs_dim, act_dim) = (11, 3);
            let (mut native, mut torch) = pair(obs_dim, act_dim, &hidden);
            let obs = noise(batch * obs_dim, 1, 2.0);
            let (m_n, v_n) = native.forward(&obs, batch);
            let (m_n, v_n) = (m_n.to_vec(), v_n.to_vec());
            let (m_t, v_t) = torch.forward(&obs, batch);
            assert!(rel_err(m_t, &m_n) <= 1e-5, "{hidden:?} means: {:e}", rel_err(m_t, &m_n));
            assert!(rel_err(v_t, &v_n) <= 1e-5, "{hidden:?} values: {:e}", rel_err(v_t, &v_n));
            let (d_m, d_v, d_s) = (noise(batch * act_dim, 2, 1.0), noise(batch, 3, 1.0), noise(act_dim, 4, 1.0));
            native.backward(&d_m, &d_v, &d_s);
            torch.backward(&d_m, &d_v, &d_s);
            let mut g_t = Vec::new();
            to_host(&torch.grad, &mut g_t);
            let g_n = native.gradients();
            // The global norm, each backend's against the f64 norm of its own gradients: the
            // native backend sums the squares in f32 one after another (6e-5 off at 256 × 256
            // here), libtorch pairwise.
            let norm64 = |g: &[f32]| g.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
            let (norm_n, norm_t) = (native.clip_grad_norm(f32::INFINITY), torch.clip_grad_norm(f32::INFINITY));
            let off = |norm: f32, g: &[f32]| (f64::from(norm) / norm64(g) - 1.0).abs();
            assert!(off(norm_t, &g_t) <= 1e-5 && off(norm_n, &g_n) <= 1e-4, "{hidden:?}: norms {norm_t} (torch), {norm_n} (native), {}", norm64(&g_n));
            // The flat layouts agree, so whole networks compare as slices.
            let a = native.save(&RunningMeanStd::new(obs_dim));
            let (na, nl) = (a.actor.params.len(), a.log_std.len());
            for (what, range) in [("actor", 0..na), ("log_std", na..na + nl), ("critic", na + nl..g_n.len())] {
                let e = rel_err(&g_t[range.clone()], &g_n[range]);
                assert!(e <= 1e-5, "{hidden:?} {what} gradient: relative error {e:e}");
            }
        }
    }

    #[test]
    fn an_adam_step_matches_the_native_backend() {
        let (obs_dim, act_dim, batch) = (6, 2, 32);
        let (mut native, mut torch) = pair(obs_dim, act_dim, &[64, 64]);
        let rms = RunningMeanStd::new(obs_dim);
        for step in 0..3u64 {
            let obs = noise(batch * obs_dim, 10 + step, 2.0);
            let (d_m, d_v, d_s) = (noise(batch * act_dim, 20 + step, 1.0), noise(batch, 30 + step, 1.0), noise(act_dim, 40 + step, 1.0));
            for b in [&mut native as &mut dyn Backend, &mut torch] {
                b.forward(&obs, batch);
                b.backward(&d_m, &d_v, &d_s);
                b.clip_grad_norm(0.5);
                b.optimizer_step(1e-3);
            }
            let (a_n, a_t) = (native.save(&rms), torch.save(&rms));
            for (what, n, t) in
                [("actor", &a_n.actor.params, &a_t.actor.params), ("log_std", &a_n.log_std, &a_t.log_std), ("critic", &a_n.critic.params, &a_t.critic.params)]
            {
                let e = rel_err(t, n);
                assert!(e <= 1e-5, "step {step}, {what}: relative error {e:e}");
            }
            assert_eq!(torch.log_std(), &a_t.log_std[..], "the host copy of log σ follows the step");
        }
    }

    #[test]
    fn deterministic_actions_match_the_agents() {
        let mut agent = Agent::new(5, 2, &[32, 32], 0.0, 4);
        agent.actor.params.iter_mut().for_each(|p| *p *= 400.0); // some actions past ±1, clipped
        agent.obs_rms.update(&noise(40, 5, 3.0));
        let mut torch = TorchBackend::new(&agent, AdamConfig::default(), Device::Cpu).unwrap();
        let obs = noise(8 * 5, 6, 4.0);
        let (native, ours) = (agent.act_deterministic(&obs, 10.0), torch.act_deterministic(&agent.obs_rms, &obs, 10.0));
        assert!(native.iter().any(|a| a.abs() == 1.0), "the test needs clipped actions: {native:?}");
        assert!(rel_err(&ours, &native) <= 1e-5, "{ours:?} vs {native:?}");
    }

    #[test]
    fn acting_on_the_host_copy_follows_every_optimiser_step() {
        let (obs_dim, act_dim, batch) = (6, 2, 16);
        let (_, mut torch) = pair(obs_dim, act_dim, &[32, 32]);
        let obs = noise(batch * obs_dim, 50, 2.0);
        for step in 0..3u64 {
            let (m_act, v_act) = torch.act(&obs, batch);
            let (m_act, v_act) = (m_act.to_vec(), v_act.to_vec());
            let (m, v) = torch.forward(&obs, batch);
            assert!(rel_err(&m_act, m) <= 1e-5 && rel_err(&v_act, v) <= 1e-5, "step {step}: act and forward disagree");
            torch.backward(&noise(batch * act_dim, 60 + step, 1.0), &noise(batch, 70 + step, 1.0), &noise(act_dim, 80 + step, 1.0));
            torch.optimizer_step(1e-2);
        }
    }

    #[test]
    fn weights_round_trip_through_save_and_load() {
        let (_, mut torch) = pair(4, 2, &[8]);
        let other = Agent::new(4, 2, &[8], 0.4, 77);
        torch.load(&other);
        let rms = RunningMeanStd::new(4);
        assert_eq!(torch.save(&rms), Agent { obs_rms: rms.clone(), ..other.clone() });
        assert_eq!(torch.log_std(), &other.log_std[..]);
    }

    #[test]
    fn a_cuda_device_libtorch_cannot_use_is_an_error_that_says_why() {
        // The first index past the devices libtorch sees: cuda:0 on a machine without a GPU.
        let count = tch::Cuda::device_count();
        let agent = Agent::new(3, 1, &[4], 0.0, 1);
        let e = TorchBackend::new(&agent, AdamConfig::default(), Device::Cuda(count as usize)).unwrap_err().to_string();
        assert!(e.starts_with(&format!("cuda:{count} was asked for, but")), "{e}");
    }
}
