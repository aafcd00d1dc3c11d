//! Measures what one `RewardScript::call` costs for a typical cartpole-like 4-term reward, and
//! what one Rhai operation costs (the critic's `NS_PER_OPERATION`): the same reward, and a loop of
//! arithmetic, timed per call and divided by their operation counts.
//!
//! `cargo run --release -p rewardsmith-script --example call_cost [calls per round]`
//!
//! Nearly all of the cost is Rhai's tree-walking evaluation of the script: this one makes eight
//! calls into Rust (five state getters, `cos`, two `square`), about 3 000 instructions each with
//! the map literal; `call` itself adds one allocation for the state and the checks of the terms.

use rewardsmith_script::{RewardScript, RewardTerms, Sandbox, SandboxLimits, State, StateData, StateLayout, Value};
use std::hint::black_box;
use std::time::Instant;

const SCRIPT: &str = r#"
fn compute_reward(s) {
    #{
        upright: s.pole_angle.cos(),
        centered: -0.1 * s.cart_x * s.cart_x,
        still: -0.01 * square(s.pole_velocity),
        effort: -0.001 * square(s.action[0]),
    }
}
"#;

fn main() {
    let names = ["cart_x", "cart_velocity", "pole_angle", "pole_velocity"];
    let layout = StateLayout { names: names.iter().map(|n| (*n).to_owned()).collect() };
    let sandbox = Sandbox::new(layout, &SandboxLimits::default());
    let script = RewardScript::compile(&sandbox, "cartpole.rhai", SCRIPT).expect("compiles");
    let mut state = State::new(StateData {
        values: vec![Value::Float(0.1), Value::Float(-0.2), Value::Float(0.05), Value::Float(0.3)],
        action: vec![0.5],
        dt: 0.02,
        step: 0,
        time: 0.0,
    });
    let mut terms = RewardTerms::default();
    // Calls per round: the first argument, default 200 000 (use fewer under valgrind).
    let calls: u32 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let mut best = f64::INFINITY;
    for _round in 0..5 {
        let start = Instant::now();
        for i in 0..calls {
            // Refresh the state in place as the simulator does between steps.
            if let Value::Float(x) = &mut state.data_mut().values[0] {
                *x = (i % 100) as f64 * 0.01;
            }
            script.call(black_box(&state), &mut terms).expect("calls");
            black_box(terms.total());
        }
        let us = start.elapsed().as_secs_f64() * 1e6 / f64::from(calls);
        best = best.min(us);
        println!("{us:.3} µs/call");
    }
    println!("best of 5: {best:.3} µs/call ({} terms: {})", terms.names.len(), terms.names.join(", "));
    let ops = script.operations(&state).expect("runs");
    println!("{ops} operations per call: {:.1} ns per operation", best * 1e3 / ops as f64);
    let looping = RewardScript::compile(&sandbox, "loop.rhai", LOOP).expect("compiles");
    let ops = looping.operations(&state).expect("runs");
    let calls = (calls / 100).max(1);
    let mut terms = RewardTerms::default();
    let start = Instant::now();
    for _ in 0..calls {
        looping.call(black_box(&state), &mut terms).expect("calls");
    }
    let us = start.elapsed().as_secs_f64() * 1e6 / f64::from(calls);
    println!("loop: {us:.1} µs/call, {ops} operations per call: {:.1} ns per operation", us * 1e3 / ops as f64);
}

/// A costly reward: a loop of arithmetic on state variables.
const LOOP: &str = r#"
fn compute_reward(s) {
    let x = 0.0;
    for i in 0..500 { x += s.pole_angle * 0.001 + s.cart_x * s.cart_x; }
    x
}
"#;
