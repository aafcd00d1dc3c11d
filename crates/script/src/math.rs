//! Transcendental functions for scripts, computed by libm instead of the C library.
//!
//! glibc picks FMA or AVX2 variants of `sin`, `exp`, `pow`… at run time by CPU, and those round
//! differently in the last bit; libm is plain Rust, so a reward term has the same bits on every
//! x86-64 machine and golden hashes written on one machine hold on another. Functions registered
//! on the engine take precedence over Rhai's standard package.
//!
//! The `**` operator is the exception: Rhai evaluates operators on built-in types inline, and
//! routing them through registered functions (`set_fast_operators(false)`) costs 26% more
//! instructions per cartpole step (callgrind), so `x ** y` — `x ** 2` too — stays the C
//! library's `pow`, identical on one machine but possibly not in the last bit across CPUs;
//! `pow(x, y)` and `square(x)` are the portable ones.

use rhai::{Engine, FLOAT, INT};

type Unary = fn(f64) -> f64;

/// The one-argument functions scripts get from libm, by name.
const UNARY: [(&str, Unary); 17] = [
    ("sin", libm::sin),
    ("cos", libm::cos),
    ("tan", libm::tan),
    ("asin", libm::asin),
    ("acos", libm::acos),
    ("atan", libm::atan),
    ("sinh", libm::sinh),
    ("cosh", libm::cosh),
    ("tanh", libm::tanh),
    ("asinh", libm::asinh),
    ("acosh", libm::acosh),
    ("atanh", libm::atanh),
    ("exp", libm::exp),
    ("ln", libm::log),
    ("log", libm::log10),
    ("sqrt", libm::sqrt),
    ("cbrt", libm::cbrt),
];

/// The libm function a script's one-argument `name(x)` calls, if it is one.
pub(crate) fn unary(name: &str) -> Option<Unary> {
    UNARY.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

pub(crate) fn register(engine: &mut Engine) {
    for (name, f) in UNARY {
        engine.register_fn(name, move |x: FLOAT| f(x));
    }
    engine
        .register_fn("atan", |y: FLOAT, x: FLOAT| libm::atan2(y, x))
        .register_fn("hypot", |x: FLOAT, y: FLOAT| libm::hypot(x, y))
        .register_fn("log", |x: FLOAT, base: FLOAT| libm::log(x) / libm::log(base))
        .register_fn("pow", |x: FLOAT, y: FLOAT| libm::pow(x, y))
        .register_fn("pow", |x: FLOAT, n: INT| libm::pow(x, n as FLOAT));
}

#[cfg(test)]
mod tests {
    use crate::{Sandbox, SandboxLimits, StateLayout};

    #[test]
    fn script_math_is_libm_bit_for_bit() {
        let sandbox = Sandbox::new(StateLayout::default(), &SandboxLimits::default());
        let eval = |expr: &str| sandbox.engine.eval_expression::<f64>(expr).unwrap();
        // Many arguments, so a function that still went to the C library would likely show.
        for i in 1..200 {
            let x = f64::from(i) * 0.173;
            assert_eq!(eval(&format!("({x:?}).sin()")).to_bits(), libm::sin(x).to_bits(), "sin {x}");
            assert_eq!(eval(&format!("({x:?}).cos()")).to_bits(), libm::cos(x).to_bits(), "cos {x}");
            assert_eq!(eval(&format!("exp({:?})", -x)).to_bits(), libm::exp(-x).to_bits(), "exp {x}");
            assert_eq!(eval(&format!("ln({x:?})")).to_bits(), libm::log(x).to_bits(), "ln {x}");
            assert_eq!(eval(&format!("pow({x:?}, 1.7)")).to_bits(), libm::pow(x, 1.7).to_bits(), "pow {x}");
            assert_eq!(eval(&format!("atan({x:?}, 0.5)")).to_bits(), libm::atan2(x, 0.5).to_bits(), "atan2 {x}");
        }
    }
}
