//! PPO for rewardsmith (issue 3, in progress): the numerical core.
//!
//! - [`tanh`]: a vectorisable tanh (abs. error ≤ 1e-6);
//! - [`mlp`]: a hand-written multilayer perceptron on `matrixmultiply`'s gemm, generic over f32
//!   (training) and f64 (gradient checks);
//! - [`adam`]: the Adam optimiser;
//! - [`gae`]: generalised advantage estimation with truncation bootstrapping;
//! - [`loss`]: the clipped surrogate, value and entropy terms and their gradients.
//!
//! The training loop, `train`/`eval` and the benchmarks come next.

pub mod adam;
pub mod agent;
pub mod eval;
pub mod gae;
pub mod loss;
pub mod mlp;
pub mod normalize;
pub mod tanh;
pub mod train;
