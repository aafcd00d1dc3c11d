//! A multilayer perceptron written by hand on `matrixmultiply`'s gemm.
//!
//! Hand-written on purpose: issue 3 reports that for PPO's policy 16-64-64-4 and value 16-64-64-1
//! with a minibatch of 1024, a hand-written update took 1.3 ms against 3.4 ms for PyTorch CPU,
//! 3.5 ms for tch, 6.4 ms for candle and 10.3 ms for burn (its measurement; ours comes with the
//! training loop). Hidden layers use tanh, the output layer is linear.
//!
//! Generic over [`Scalar`]: f32 for training, f64 for the finite-difference gradient check.
//! Layout: all parameters in one flat vector, layer by layer, each layer its weights (`in × out`,
//! row-major) then its biases (`out`); activations are row-major `batch × width`.

/// The element type of a network: f32 or f64.
pub trait Scalar:
    Copy
    + Default
    + PartialOrd
    + std::fmt::Debug
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::AddAssign
    + From<f32>
    + 'static
{
    /// `C = alpha · A·B + beta · C` for row-major `A: m × k`, `B: k × n`, `C: m × n`, with `A` or
    /// `B` read transposed when asked.
    #[allow(clippy::too_many_arguments)]
    fn gemm(m: usize, k: usize, n: usize, a: &[Self], a_t: bool, b: &[Self], b_t: bool, beta: Self, c: &mut [Self]);
    /// A hidden layer's bias and activation: `z[r][j] ← tanh(z[r][j] + bias[j])` for every row.
    fn bias_tanh(z: &mut [Self], bias: &[Self]);
}

/// (row, column) strides of an operand of shape `rows × cols`: stored row-major as it is, or,
/// when `t`, stored row-major as its `cols × rows` transpose.
fn strides(rows: usize, cols: usize, t: bool) -> (isize, isize) {
    if t { (1, rows as isize) } else { (cols as isize, 1) }
}

/// At or below this inner or output dimension gemm runs as plain loops: a network's narrow output
/// layer (4 actions, 1 value) would otherwise have matrixmultiply pack a whole `batch × 64`
/// activation matrix to multiply it by a 64 × 1 vector; the loops made the update ≈ 25% faster
/// (`rewardsmith bench --ppo`, BENCHMARKS.md).
const SMALL_DIM: usize = 8;

/// Lanes of the dot products' partial sums: independent accumulators the compiler turns into
/// SIMD registers (a single running sum would be a serial chain). Fixed, so the summation order
/// and hence the result do not depend on the CPU.
const LANES: usize = 8;

/// `C = A·B + beta·C` for shapes where a dimension is at most [`SMALL_DIM`], as loops whose
/// innermost runs along contiguous memory:
/// - small k (`dx = delta·Wᵀ` of an output layer): C's rows are sums of k rows of B;
/// - small n, A as stored (forward of an output layer): each C entry is a dot product of a row of
///   A and a row of Bᵀ;
/// - small n, A transposed (`dW = xᵀ·delta`): Cᵀ's rows accumulate rows of Aᵀ scaled by B.
#[allow(clippy::too_many_arguments)]
fn small_gemm<T: Scalar>(m: usize, k: usize, n: usize, a: &[T], a_t: bool, b: &[T], b_t: bool, beta: T, c: &mut [T]) {
    let zero = T::from(0.0);
    let c = &mut c[..m * n];
    // B as rows of B (k × n) or of Bᵀ (n × k), whichever the loop wants, copied if stored the
    // other way (B is a small weight matrix here).
    let rows_of = |want_t: bool| -> std::borrow::Cow<'_, [T]> {
        if want_t == b_t {
            std::borrow::Cow::Borrowed(&b[..k * n])
        } else if want_t {
            std::borrow::Cow::Owned((0..n * k).map(|i| b[(i % k) * n + i / k]).collect())
        } else {
            std::borrow::Cow::Owned((0..k * n).map(|i| b[(i % n) * k + i / n]).collect())
        }
    };
    let a_at = |i: usize, p: usize| if a_t { a[p * m + i] } else { a[i * k + p] };
    if k <= SMALL_DIM {
        let b = rows_of(false);
        for i in 0..m {
            let c_row = &mut c[i * n..(i + 1) * n];
            c_row.iter_mut().for_each(|x| *x = if beta == zero { zero } else { *x * beta });
            for p in 0..k {
                let a_ip = a_at(i, p);
                c_row.iter_mut().zip(&b[p * n..(p + 1) * n]).for_each(|(x, b_pj)| *x += a_ip * *b_pj);
            }
        }
    } else if !a_t {
        let bt = rows_of(true);
        for i in 0..m {
            for j in 0..n {
                let dot = dot(&a[i * k..(i + 1) * k], &bt[j * k..(j + 1) * k]);
                let x = &mut c[i * n + j];
                *x = if beta == zero { dot } else { dot + *x * beta };
            }
        }
    } else {
        // Cᵀ (n × m): row j accumulates B[p][j] · (row p of Aᵀ) over p.
        let mut ct = vec![zero; n * m];
        for p in 0..k {
            let a_row = &a[p * m..(p + 1) * m];
            for j in 0..n {
                let b_pj = b[if b_t { j * k + p } else { p * n + j }];
                ct[j * m..(j + 1) * m].iter_mut().zip(a_row).for_each(|(x, a_pi)| *x += b_pj * *a_pi);
            }
        }
        for i in 0..m {
            for j in 0..n {
                let x = &mut c[i * n + j];
                *x = if beta == zero { ct[j * m + i] } else { ct[j * m + i] + *x * beta };
            }
        }
    }
}

/// Σ x·y with [`LANES`] partial sums, added up in a fixed order.
fn dot<T: Scalar>(x: &[T], y: &[T]) -> T {
    let mut acc = [T::from(0.0); LANES];
    let (xc, yc) = (x.chunks_exact(LANES), y.chunks_exact(LANES));
    let (xr, yr) = (xc.remainder(), yc.remainder());
    for (xs, ys) in xc.zip(yc) {
        for l in 0..LANES {
            acc[l] += xs[l] * ys[l];
        }
    }
    let mut sum = T::from(0.0);
    for (l, a) in acc.iter().enumerate() {
        sum += *a + if l < xr.len() { xr[l] * yr[l] } else { T::from(0.0) };
    }
    sum
}

macro_rules! impl_scalar {
    ($t:ty, $gemm:path, $bias_tanh:expr) => {
        impl Scalar for $t {
            fn gemm(m: usize, k: usize, n: usize, a: &[Self], a_t: bool, b: &[Self], b_t: bool, beta: Self, c: &mut [Self]) {
                assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n, "gemm: buffers too small");
                if n.min(k) <= SMALL_DIM {
                    return small_gemm(m, k, n, a, a_t, b, b_t, beta, c);
                }
                let (rsa, csa) = strides(m, k, a_t);
                let (rsb, csb) = strides(k, n, b_t);
                // SAFETY: the lengths were checked above against the shapes and strides, which
                // address exactly m·k, k·n and m·n elements of the row-major (or transposed)
                // matrices; `c` does not alias `a` or `b` (it is a distinct `&mut`).
                #[allow(unsafe_code)]
                unsafe {
                    $gemm(m, k, n, 1.0, a.as_ptr(), rsa, csa, b.as_ptr(), rsb, csb, beta, c.as_mut_ptr(), n as isize, 1);
                }
            }
            fn bias_tanh(z: &mut [Self], bias: &[Self]) {
                $bias_tanh(z, bias)
            }
        }
    };
}

impl_scalar!(f32, matrixmultiply::sgemm, crate::tanh::bias_tanh);
impl_scalar!(f64, matrixmultiply::dgemm, |z: &mut [f64], bias: &[f64]| for row in z.chunks_exact_mut(bias.len()) {
    row.iter_mut().zip(bias).for_each(|(v, b)| *v = (*v + *b).tanh());
});

/// A fully connected network: `sizes[0]` inputs, tanh hidden layers, a linear output layer.
#[derive(Debug, Clone, PartialEq)]
pub struct Mlp<T> {
    /// Layer widths, input first, output last.
    pub sizes: Vec<usize>,
    /// All parameters (see the module docs for the layout).
    pub params: Vec<T>,
}

/// What a forward pass keeps for the backward pass (every layer's output, input first), and the
/// backward pass's scratch buffers, kept so that repeated passes do not allocate.
#[derive(Debug, Clone, Default)]
pub struct Tape<T> {
    batch: usize,
    activations: Vec<Vec<T>>,
    delta: Vec<T>,
    next: Vec<T>,
}

impl<T: Scalar> Tape<T> {
    /// The network's output of the last forward pass, `batch × sizes.last()`.
    pub fn output(&self) -> &[T] {
        self.activations.last().map_or(&[], Vec::as_slice)
    }
}

impl<T: Scalar> Mlp<T> {
    /// A network with the given widths and the given parameters.
    pub fn from_params(sizes: Vec<usize>, params: Vec<T>) -> Self {
        assert!(sizes.len() >= 2, "a network needs an input and an output layer");
        assert_eq!(params.len(), Self::param_count(&sizes), "parameter count does not match the sizes");
        Self { sizes, params }
    }

    /// Number of parameters of a network with these widths.
    pub fn param_count(sizes: &[usize]) -> usize {
        sizes.windows(2).map(|w| w[0] * w[1] + w[1]).sum()
    }

    /// Index ranges of layer `l`'s weights (`in × out`, row-major) and biases in `params`.
    pub fn layer_ranges(&self, l: usize) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
        let (w, b) = self.offsets(l);
        (w..b, b..b + self.sizes[l + 1])
    }

    /// Offsets of layer `l`'s weights and biases in `params`.
    fn offsets(&self, l: usize) -> (usize, usize) {
        let start: usize = self.sizes.windows(2).take(l).map(|w| w[0] * w[1] + w[1]).sum();
        (start, start + self.sizes[l] * self.sizes[l + 1])
    }

    /// Runs `input` (`batch × sizes[0]`, row-major) through the network, keeping what
    /// [`Mlp::backward`] needs in `tape`; returns the output.
    pub fn forward<'t>(&self, input: &[T], batch: usize, tape: &'t mut Tape<T>) -> &'t [T] {
        assert_eq!(input.len(), batch * self.sizes[0], "input is not batch × inputs");
        let layers = self.sizes.len() - 1;
        tape.batch = batch;
        tape.activations.resize_with(layers + 1, Vec::new);
        tape.activations[0].clear();
        tape.activations[0].extend_from_slice(input);
        for l in 0..layers {
            let (n_in, n_out) = (self.sizes[l], self.sizes[l + 1]);
            let (w, b) = self.offsets(l);
            let (done, rest) = tape.activations.split_at_mut(l + 1);
            let (x, z) = (&done[l], &mut rest[0]);
            // gemm with beta = 0 overwrites z without reading it, so z is only resized, never
            // cleared; the bias is added in the same pass as the activation.
            z.resize(batch * n_out, T::default());
            T::gemm(batch, n_in, n_out, x, false, &self.params[w..w + n_in * n_out], false, T::from(0.0), z);
            let bias = &self.params[b..b + n_out];
            if l + 1 < layers {
                T::bias_tanh(z, bias);
            } else {
                z.chunks_exact_mut(n_out).for_each(|row| row.iter_mut().zip(bias).for_each(|(v, b)| *v += *b));
            }
        }
        tape.output()
    }

    /// Gradients of a loss with respect to every parameter, given the loss's gradient with
    /// respect to the last forward pass's output (`batch × sizes.last()`). Overwrites `grads`.
    pub fn backward(&self, tape: &mut Tape<T>, grad_output: &[T], grads: &mut [T]) {
        let batch = tape.batch;
        assert_eq!(grads.len(), self.params.len(), "one gradient per parameter");
        assert_eq!(grad_output.len(), batch * self.sizes[self.sizes.len() - 1], "grad_output is not batch × outputs");
        let Tape { activations, delta, next, .. } = tape;
        delta.clear();
        delta.extend_from_slice(grad_output);
        for l in (0..self.sizes.len() - 1).rev() {
            let (n_in, n_out) = (self.sizes[l], self.sizes[l + 1]);
            let (w, b) = self.offsets(l);
            let x = &activations[l];
            // dW = xᵀ·delta, db = Σ_batch delta.
            T::gemm(n_in, batch, n_out, x, true, delta, false, T::from(0.0), &mut grads[w..w + n_in * n_out]);
            let db = &mut grads[b..b + n_out];
            db.iter_mut().for_each(|g| *g = T::from(0.0));
            for row in delta.chunks(n_out) {
                for (g, d) in db.iter_mut().zip(row) {
                    *g += *d;
                }
            }
            if l > 0 {
                // dx = delta·Wᵀ (beta = 0: `next` is overwritten, not read), then through tanh:
                // x = tanh(z) so dz = dx · (1 − x²).
                next.resize(batch * n_in, T::default());
                T::gemm(batch, n_out, n_in, delta, false, &self.params[w..w + n_in * n_out], true, T::from(0.0), next);
                for (d, a) in next.iter_mut().zip(x) {
                    *d = *d * (T::from(1.0) - *a * *a);
                }
                std::mem::swap(delta, next);
            }
        }
    }
}

/// Deterministic pseudo-random numbers in [-1, 1] (SplitMix64), so tests need no RNG crate.
#[cfg(test)]
pub(crate) fn noise(n: usize, seed: u64) -> Vec<f64> {
    let mut z = seed;
    (0..n)
        .map(|_| {
            z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut x = z;
            x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            x ^= x >> 31;
            (x >> 11) as f64 / (1u64 << 52) as f64 - 1.0
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loss = Σ output ⊙ weights, so dLoss/dOutput = weights.
    fn loss(net: &Mlp<f64>, input: &[f64], batch: usize, weights: &[f64]) -> f64 {
        let mut tape = Tape::default();
        net.forward(input, batch, &mut tape).iter().zip(weights).map(|(o, w)| o * w).sum()
    }

    #[test]
    fn gradients_match_finite_differences_for_every_parameter() {
        // f64, exact tanh: the relative error bound of issue 3 (≤ 1e-4) applies to every parameter.
        // Two shapes: narrow layers only (gemm's loop paths), and hidden layers wider than
        // SMALL_DIM (matrixmultiply) around a narrow output.
        for (sizes, batch) in [(vec![5, 7, 6, 3], 4), (vec![11, 13, 10, 2], 9)] {
            let net = Mlp::from_params(sizes.clone(), noise(Mlp::<f64>::param_count(&sizes), 1));
            let input = noise(batch * sizes[0], 2);
            let weights = noise(batch * sizes[sizes.len() - 1], 3);
            let mut tape = Tape::default();
            net.forward(&input, batch, &mut tape);
            let mut grads = vec![0.0; net.params.len()];
            net.backward(&mut tape, &weights, &mut grads);
            let h = 1e-6;
            for (p, analytic) in grads.iter().enumerate() {
                let (mut plus, mut minus) = (net.clone(), net.clone());
                plus.params[p] += h;
                minus.params[p] -= h;
                let numeric = (loss(&plus, &input, batch, &weights) - loss(&minus, &input, batch, &weights)) / (2.0 * h);
                let scale = numeric.abs().max(analytic.abs()).max(1e-6);
                let rel = (numeric - analytic).abs() / scale;
                assert!(rel <= 1e-4, "{sizes:?} parameter {p}: analytic {analytic} numeric {numeric} (relative error {rel:e})");
            }
        }
    }

    #[test]
    fn small_gemm_loops_agree_with_matrixmultiply_for_every_transposition() {
        for (m, k, n) in [(13, 3, 11), (13, 11, 3), (12, 17, 1), (1, 9, 10), (10, 20, 8)] {
            for (a_t, b_t) in [(false, false), (true, false), (false, true), (true, true)] {
                for beta in [0.0, 0.5] {
                    let (a, b) = (noise(m * k, 5), noise(k * n, 6));
                    let mut expected = noise(m * n, 7);
                    let mut actual = expected.clone();
                    let (rsa, csa) = strides(m, k, a_t);
                    let (rsb, csb) = strides(k, n, b_t);
                    // SAFETY: a, b and expected hold exactly m·k, k·n and m·n elements, addressed
                    // by these strides; expected is a distinct buffer.
                    #[allow(unsafe_code)]
                    unsafe {
                        matrixmultiply::dgemm(m, k, n, 1.0, a.as_ptr(), rsa, csa, b.as_ptr(), rsb, csb, beta, expected.as_mut_ptr(), n as isize, 1);
                    }
                    small_gemm(m, k, n, &a, a_t, &b, b_t, beta, &mut actual);
                    for (x, y) in actual.iter().zip(&expected) {
                        assert!((x - y).abs() <= 1e-12, "{m}×{k}×{n} a_t {a_t} b_t {b_t} beta {beta}: {x} vs {y}");
                    }
                }
            }
        }
    }

    #[test]
    fn f32_network_computes_what_the_f64_one_does() {
        // Guards the gemm strides and the tanh approximation on the f32 path.
        let sizes = vec![16, 64, 64, 4];
        let batch = 32;
        let params = noise(Mlp::<f64>::param_count(&sizes), 4).iter().map(|p| p * 0.3).collect::<Vec<_>>();
        let input = noise(batch * 16, 5);
        let n64 = Mlp::from_params(sizes.clone(), params.clone());
        let n32 = Mlp::from_params(sizes, params.iter().map(|p| *p as f32).collect());
        let (mut t64, mut t32) = (Tape::default(), Tape::default());
        let o64 = n64.forward(&input, batch, &mut t64).to_vec();
        let i32: Vec<f32> = input.iter().map(|x| *x as f32).collect();
        let o32 = n32.forward(&i32, batch, &mut t32).to_vec();
        for (a, b) in o64.iter().zip(&o32) {
            assert!((a - f64::from(*b)).abs() < 1e-4, "{a} vs {b}");
        }
        let g_out = noise(batch * 4, 6);
        let mut g64 = vec![0.0; n64.params.len()];
        n64.backward(&mut t64, &g_out, &mut g64);
        let mut g32 = vec![0.0f32; n32.params.len()];
        n32.backward(&mut t32, &g_out.iter().map(|x| *x as f32).collect::<Vec<_>>(), &mut g32);
        for (p, (a, b)) in g64.iter().zip(&g32).enumerate() {
            assert!((a - f64::from(*b)).abs() < 1e-3 * a.abs().max(1.0), "parameter {p}: {a} vs {b}");
        }
    }

    #[test]
    fn forward_is_bit_identical_when_repeated() {
        let sizes = vec![4, 8, 2];
        let net = Mlp::from_params(sizes.clone(), noise(Mlp::<f64>::param_count(&sizes), 7).iter().map(|x| *x as f32).collect());
        let input: Vec<f32> = noise(3 * 4, 8).iter().map(|x| *x as f32).collect();
        let (mut a, mut b) = (Tape::default(), Tape::default());
        let first: Vec<u32> = net.forward(&input, 3, &mut a).iter().map(|x| x.to_bits()).collect();
        let second: Vec<u32> = net.forward(&input, 3, &mut b).iter().map(|x| x.to_bits()).collect();
        assert_eq!(first, second);
    }
}
