//! Conversions between the spec's f64 arrays and rapier's f32 glam types, and seed derivation.

use rapier3d::math::{Rotation, Vector};

/// A spec vector as a rapier vector.
pub(crate) fn vec3(v: [f64; 3]) -> Vector {
    Vector::new(v[0] as f32, v[1] as f32, v[2] as f32)
}

/// A rotation vector (axis × angle, rad) as a rotation.
pub(crate) fn rotation_vector(v: [f64; 3]) -> Rotation {
    Rotation::from_scaled_axis(vec3(v))
}

/// Derives an independent seed for stream `stream` of `seed` (SplitMix64 finaliser on both), so
/// episode `e` of environment `i` gets its own reproducible seed whatever the thread count.
pub fn derive_seed(seed: u64, stream: u64) -> u64 {
    fn mix(mut z: u64) -> u64 {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    mix(seed ^ mix(stream))
}
