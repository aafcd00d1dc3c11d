//! The engine configuration for untrusted code.

use crate::math;
use crate::types::{self, StateLayout};
use rhai::{Dynamic, Engine, EvalAltResult, FLOAT, INT, OptimizationLevel};
use std::cell::RefCell;
use std::sync::{Arc, OnceLock};

/// Resource limits of the sandbox. Reward scripts are small (tens of operations per call); the
/// limits leave room for honest scripts and stop hostile ones within milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxLimits {
    /// Operations per call (each expression node, loop iteration, function call counts one).
    /// Default 100 000: ~1000× an ordinary reward, stops an endless loop in a few milliseconds.
    pub max_operations: u64,
    /// Nested function calls. Default 32.
    pub max_call_levels: usize,
    /// Expression nesting at top level. Default 64.
    pub max_expr_depth: usize,
    /// Expression nesting inside functions. Default 32.
    pub max_function_expr_depth: usize,
    /// Bytes in one string (UTF-8). Default 4096.
    pub max_string_size: usize,
    /// Elements in one array. Default 1024.
    pub max_array_size: usize,
    /// Entries in one map (so at most this many reward terms). Default 64.
    pub max_map_size: usize,
    /// Variables alive at once. Default 256.
    pub max_variables: usize,
    /// Functions a script may define. Default 64.
    pub max_functions: usize,
    /// `print`/`debug` lines kept per engine; the rest are counted and dropped. Default 64.
    pub max_print_lines: usize,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        Self {
            max_operations: 100_000,
            max_call_levels: 32,
            max_expr_depth: 64,
            max_function_expr_depth: 32,
            max_string_size: 4096,
            max_array_size: 1024,
            max_map_size: 64,
            max_variables: 256,
            max_functions: 64,
            max_print_lines: 64,
        }
    }
}

/// What scripts printed: kept for the critic and the LLM's feedback, never written to stdout.
#[derive(Debug, Default)]
pub(crate) struct PrintLog {
    pub lines: Vec<String>,
    pub dropped: usize,
}

thread_local! {
    /// What scripts printed on this thread (see [`Sandbox::take_prints`]).
    static PRINTS: RefCell<PrintLog> = RefCell::new(PrintLog::default());
    /// Operations of the quiet engine's evaluation in progress on this thread (Rhai reports the
    /// running count to `on_progress`).
    pub(crate) static OPERATIONS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// A configured engine for one environment's state layout, shared by every script and expression
/// of that environment (it is `Send + Sync`, so one serves all worker threads).
#[derive(Clone)]
pub struct Sandbox {
    pub(crate) engine: Arc<Engine>,
    layout: StateLayout,
    pub(crate) limits: SandboxLimits,
    /// A second engine like `engine` but with `print`/`debug` discarded, built on first use: it
    /// re-runs a failed script to locate errors the engine reports without a position.
    quiet: Arc<OnceLock<Engine>>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox").field("layout", &self.layout).finish_non_exhaustive()
    }
}

impl Sandbox {
    /// An engine with the given limits that knows the state variables of `layout`.
    pub fn new(layout: StateLayout, limits: &SandboxLimits) -> Self {
        let mut engine = build_engine(&layout, limits);
        let max_lines = limits.max_print_lines;
        let sink = move |tag: &'static str| {
            move |text: &str| {
                PRINTS.with_borrow_mut(|log| {
                    if log.lines.len() < max_lines {
                        log.lines.push(format!("{tag}{text}"));
                    } else {
                        log.dropped += 1;
                    }
                })
            }
        };
        engine.on_print(sink(""));
        let debug_sink = sink("[debug] ");
        engine.on_debug(move |text, _, _| debug_sink(text));
        Self { engine: Arc::new(engine), layout, limits: limits.clone(), quiet: Arc::new(OnceLock::new()) }
    }

    /// The engine without output, for diagnostic re-runs and for counting a script's operations
    /// (into [`OPERATIONS`]; the training engine has no progress callback, which would cost a
    /// call per operation on every step).
    pub(crate) fn quiet_engine(&self) -> &Engine {
        self.quiet.get_or_init(|| {
            let mut engine = build_engine(&self.layout, &self.limits);
            engine.on_print(|_| {});
            engine.on_debug(|_, _, _| {});
            engine.on_progress(|count| {
                OPERATIONS.set(count);
                None
            });
            engine
        })
    }

    /// The limits the engine enforces.
    pub fn limits(&self) -> &SandboxLimits {
        &self.limits
    }

    /// A sandbox like this one on an engine of its own. Worker threads each given their own
    /// engine and scripts share no reference count: Rhai clones its functions' and names'
    /// shared pointers on every call, and counters touched by two cores bounce their cache line
    /// between them (BENCHMARKS.md, "A step at the cost of its physics").
    pub fn isolated(&self) -> Self {
        Self::new(self.layout.clone(), &self.limits)
    }

    /// The state layout the engine was built for.
    pub fn layout(&self) -> &StateLayout {
        &self.layout
    }

    /// Takes the lines that scripts printed on this thread since the last call, and how many were
    /// dropped past the limit. The log is per thread, so scripts running on other threads (other
    /// candidates, VecEnv workers) never mix their lines into a report, whatever the timing.
    pub fn take_prints(&self) -> (Vec<String>, usize) {
        PRINTS.with_borrow_mut(|log| (std::mem::take(&mut log.lines), std::mem::take(&mut log.dropped)))
    }
}

/// The engine shared by [`Sandbox::new`] and the quiet engine: limits, forbidden symbols, types.
fn build_engine(layout: &StateLayout, limits: &SandboxLimits) -> Engine {
    let mut engine = Engine::new();
    engine
        .set_max_operations(limits.max_operations)
        .set_max_call_levels(limits.max_call_levels)
        .set_max_expr_depths(limits.max_expr_depth, limits.max_function_expr_depth)
        .set_max_string_size(limits.max_string_size)
        .set_max_array_size(limits.max_array_size)
        .set_max_map_size(limits.max_map_size)
        .set_max_variables(limits.max_variables)
        .set_max_functions(limits.max_functions)
        .set_strict_variables(true)
        .set_fail_on_invalid_map_property(true)
        .set_optimization_level(OptimizationLevel::Simple);
    // `eval` would run text built at run time outside the static checks; modules and the
    // clock are compiled out (features `no_module`, `no_time`); the core has no I/O or RNG.
    engine.disable_symbol("eval");
    // `curry` hides data from the size limits: Rhai does not count values bound into a function
    // pointer, and `pad` copies them, so three nested curries reach gigabytes.
    engine.disable_symbol("curry");
    // `sleep` is in Rhai's core package even without the clock; a sleeping script costs one
    // operation, so the operation limit would never stop it. Registered functions take
    // precedence over the package's.
    let no_sleep = |_: Dynamic| -> Result<(), Box<EvalAltResult>> { Err("`sleep` is not allowed in reward scripts".into()) };
    engine.register_fn("sleep", move |x: FLOAT| no_sleep(Dynamic::from_float(x)));
    engine.register_fn("sleep", move |x: INT| no_sleep(Dynamic::from_int(x)));
    types::register(&mut engine, layout);
    math::register(&mut engine);
    engine
}
