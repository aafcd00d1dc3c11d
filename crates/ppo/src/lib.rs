//! PPO for rewardsmith: continuous-action PPO as CleanRL's `ppo_continuous_action.py`, on a
//! hand-written MLP, bitwise reproducible for a seed whatever the thread count.
//!
//! - [`train`]: the training loop (rollout, GAE, minibatch epochs, logging) and [`train::update`];
//! - [`config`]: [`config::PpoConfig`], one documented struct, assembled from layers (defaults,
//!   the env file's `[ppo]`, a config file, flags);
//! - [`backend`]: what the loop needs from the networks ([`backend::Backend`]: forward, backward,
//!   gradient clipping, optimiser step, save/load) and the CPU implementation; `torch` (feature
//!   `torch`) is the same on libtorch, on the CPU or a CUDA device;
//! - [`agent`]: the Gaussian policy, value network and observation statistics, saved as
//!   safetensors;
//! - [`mlp`]: a multilayer perceptron on `matrixmultiply`'s gemm, generic over f32 (training) and
//!   f64 (gradient checks), with [`tanh`], a vectorisable tanh (abs. error ≤ 1e-6);
//! - [`adam`], [`gae`], [`loss`], [`normalize`]: Adam, GAE(λ) with truncation bootstrapping, the
//!   clipped surrogate/value/entropy terms and their gradients, running normalisation;
//! - [`gpu`]: a CUDA device's name and memory from `nvidia-smi`, and a training's memory estimate;
//! - [`eval`]: deterministic-policy evaluation, also periodic during training with a target;
//! - [`tensorboard`]: TensorBoard event files.

pub mod adam;
pub mod agent;
pub mod backend;
pub mod bench;
pub mod config;
pub mod eval;
pub mod gae;
pub mod gpu;
pub mod loss;
pub mod mlp;
pub mod normalize;
pub mod tanh;
pub mod tensorboard;
#[cfg(feature = "torch")]
pub mod torch;
pub mod train;
