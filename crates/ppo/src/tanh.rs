//! A tanh the compiler can vectorise.
//!
//! `f32::tanh` calls the C library once per element and made the whole MLP update 3.6× slower
//! (issue 3's measurement); this rational approximation is branch-free apart from the clamp, so a
//! loop over a layer's activations compiles to SIMD. It is Eigen's `ptanh_float`: a 13/6 rational
//! minimax fit on [-7.9, 7.9], beyond which tanh rounds to ±1 in f32.

/// Beyond this |x| the f32 tanh is ±1.
const CLAMP: f32 = 7.905_311;
/// Below this |x|, tanh(x) = x to f32 precision.
const TINY: f32 = 0.0004;

const ALPHA: [f32; 7] = [4.893_524_5e-3, 6.372_619_3e-4, 1.485_722_4e-5, 5.122_297e-8, -8.604_672e-11, 2.000_188e-13, -2.760_768_5e-16];
const BETA: [f32; 4] = [4.893_525e-3, 2.268_434_6e-3, 1.185_347_1e-4, 1.198_258_4e-6];

/// tanh(x) with an absolute error ≤ 1e-6 on all of f32 (tested on a dense grid).
#[inline]
pub fn tanh(x: f32) -> f32 {
    let c = x.clamp(-CLAMP, CLAMP);
    let x2 = c * c;
    let p = x2 * ALPHA[6] + ALPHA[5];
    let p = x2 * p + ALPHA[4];
    let p = x2 * p + ALPHA[3];
    let p = x2 * p + ALPHA[2];
    let p = x2 * p + ALPHA[1];
    let p = x2 * p + ALPHA[0];
    let p = c * p;
    let q = x2 * BETA[3] + BETA[2];
    let q = x2 * q + BETA[1];
    let q = x2 * q + BETA[0];
    if x.abs() < TINY { x } else { p / q }
}

/// `z[r][j] ← tanh(z[r][j] + bias[j])` for every row `r` of `z` (rows of `bias.len()`): a hidden
/// layer's bias and activation in one pass.
///
/// The loop is compiled three times, for plain x86-64 (SSE2, 4 lanes), AVX (8) and AVX-512 (16),
/// and the widest the CPU has is chosen at run time: tanh is a quarter of an update's time and
/// its division is the bottleneck, so lanes count. The three give bit-identical results (the
/// same IEEE operations in the same order per element; Rust never fuses a multiply and an add
/// on its own), which `wide_and_narrow_bias_tanh_agree_bitwise` checks on whatever CPU runs it.
pub fn bias_tanh(z: &mut [f32], bias: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked just above), the only requirement of
            // `bias_tanh_avx512`'s target feature.
            #[allow(unsafe_code)]
            unsafe {
                return bias_tanh_avx512(z, bias);
            }
        }
        if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: the CPU has AVX (checked just above).
            #[allow(unsafe_code)]
            unsafe {
                return bias_tanh_avx(z, bias);
            }
        }
    }
    bias_tanh_portable(z, bias);
}

#[inline(always)]
fn bias_tanh_portable(z: &mut [f32], bias: &[f32]) {
    for row in z.chunks_exact_mut(bias.len()) {
        row.iter_mut().zip(bias).for_each(|(v, b)| *v = tanh(*v + *b));
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
fn bias_tanh_avx(z: &mut [f32], bias: &[f32]) {
    bias_tanh_portable(z, bias);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn bias_tanh_avx512(z: &mut [f32], bias: &[f32]) {
    bias_tanh_portable(z, bias);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tanh_is_within_1e6_of_the_exact_value_everywhere() {
        let mut worst = (0.0f64, 0.0f32);
        let mut x = -12.0f32;
        while x <= 12.0 {
            let err = (f64::from(tanh(x)) - f64::from(x).tanh()).abs();
            if err > worst.0 {
                worst = (err, x);
            }
            x += 1e-4;
        }
        assert!(worst.0 <= 1e-6, "max error {:e} at x = {}", worst.0, worst.1);
        for x in [0.0f32, 1e-30, -1e-30, 3e-4, f32::MAX, f32::MIN, 50.0, -50.0] {
            assert!((f64::from(tanh(x)) - f64::from(x).tanh()).abs() <= 1e-6, "x = {x}");
        }
    }

    #[test]
    fn tanh_is_odd_and_bounded() {
        for i in 0..10_000 {
            let x = i as f32 * 1e-3;
            assert_eq!(tanh(-x), -tanh(x), "x = {x}");
            assert!(tanh(x).abs() <= 1.0, "x = {x}");
        }
    }

    #[test]
    fn wide_and_narrow_bias_tanh_agree_bitwise() {
        let bias: Vec<f32> = (0..64).map(|j| (j as f32 - 32.0) * 0.05).collect();
        let z: Vec<f32> = (0..64 * 37).map(|i| ((i * 7919) % 2001) as f32 * 0.01 - 10.0).collect();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let mut portable = z.clone();
        bias_tanh_portable(&mut portable, &bias);
        assert_eq!(portable[5], tanh(z[5] + bias[5]));
        // Every path this CPU can run, not only the one `bias_tanh` picks.
        let mut paths: Vec<(&str, Vec<f32>)> = Vec::new();
        let mut dispatched = z.clone();
        bias_tanh(&mut dispatched, &bias);
        paths.push(("dispatched", dispatched));
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx") {
                let mut v = z.clone();
                // SAFETY: AVX is present (checked just above).
                #[allow(unsafe_code)]
                unsafe {
                    bias_tanh_avx(&mut v, &bias)
                };
                paths.push(("avx", v));
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                let mut v = z.clone();
                // SAFETY: AVX-512F is present (checked just above).
                #[allow(unsafe_code)]
                unsafe {
                    bias_tanh_avx512(&mut v, &bias)
                };
                paths.push(("avx512", v));
            }
        }
        for (name, v) in &paths {
            assert_eq!(bits(v), bits(&portable), "{name}");
        }
    }
}
