//! `rewardsmith._native`: the Rust side of the `rewardsmith` Python package.
//!
//! Thin bindings over `rewardsmith-sim`: [`Model`] (a compiled environment file), [`Env`] (one
//! instance) and [`VecEnv`] (many instances stepped on a thread pool with auto-reset). The
//! Gymnasium classes, seeding policy and info dictionaries of the vector API live in the pure
//! Python package (`python/rewardsmith/`), which is easier to keep in step with Gymnasium.
//!
//! Every failure reaches Python as `rewardsmith.RewardsmithError` (a `ValueError`) carrying our
//! message (env file, key path, script line and column); a panic, which would be a bug, is caught
//! and reported the same way rather than as PyO3's `PanicException` (a `BaseException` that
//! `except Exception` would not catch). Steps run with the GIL released, so other Python threads
//! (and several envs in several threads) run meanwhile.

use numpy::{PyArray1, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString, PyTuple};
use rewardsmith_script::RewardScript;
use rewardsmith_sim::{EnvModel, SimError};
use rewardsmith_spec::catalog;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

pyo3::create_exception!(
    rewardsmith,
    RewardsmithError,
    PyValueError,
    "An invalid environment file or reward script, or a failure of the simulation; the message names the file (and the script's line:column)."
);

/// What a caught panic carried, for the error message.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_owned()
    }
}

/// Runs `f`, turning an error or a panic into the message Python will see. A panic is a bug, but
/// it must not take the interpreter (or a training script's other work) down with it.
fn guarded<T>(f: impl FnOnce() -> Result<T, SimError>) -> Result<T, String> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(e.to_string()),
        Err(payload) => Err(format!("internal error (a bug in rewardsmith; please report it): {}", panic_message(payload.as_ref()))),
    }
}

fn error(message: impl std::fmt::Display) -> PyErr {
    RewardsmithError::new_err(message.to_string())
}

/// Copies an action array (any shape, float32, C- or non-contiguous) into `buf`, checking its
/// length; the copy also means Rust never reads a NumPy buffer while the GIL is released (another
/// thread could be writing it).
fn read_actions(actions: &PyReadonlyArrayDyn<'_, f32>, expected: usize, buf: &mut Vec<f32>) -> PyResult<()> {
    if actions.len() != expected {
        return Err(error(format!("the action has {} components, the environment expects {expected}", actions.len())));
    }
    buf.clear();
    match actions.as_slice() {
        Ok(slice) => buf.extend_from_slice(slice),
        Err(_) => buf.extend(actions.as_array().iter().copied()),
    }
    Ok(())
}

/// A 2-D float array `rows × cols` copied from `data`.
fn array2<'py, T: numpy::Element + Copy>(py: Python<'py>, data: &[T], rows: usize, cols: usize) -> PyResult<Bound<'py, PyAny>> {
    let data = data.get(..rows * cols).ok_or_else(|| error(format!("internal error: {} values for a {rows} × {cols} array", data.len())))?;
    Ok(PyArray1::from_slice(py, data).reshape([rows, cols])?.into_any())
}

/// Compiles a reward script for `model` (`None` when neither name nor source is given: reward 0,
/// no terms).
fn compile_reward(model: &EnvModel, name: Option<&str>, source: Option<&str>) -> PyResult<Option<RewardScript>> {
    match (name, source) {
        (Some(name), Some(source)) => guarded(|| model.compile_reward(name, source)).map(Some).map_err(error),
        (None, None) => Ok(None),
        _ => Err(PyValueError::new_err("give both the reward script's name and its source, or neither")),
    }
}

/// An environment file, compiled once (expressions, layout, script engine): what [`Env`] and
/// [`VecEnv`] instances are made from.
#[pyclass(module = "rewardsmith._native", frozen)]
struct Model {
    model: Arc<EnvModel>,
}

#[pymethods]
impl Model {
    /// Loads `env`: a built-in id (`cartpole`) or a path to an env `.toml` file.
    #[new]
    fn new(py: Python<'_>, env: &str) -> PyResult<Self> {
        let model = py.detach(|| guarded(|| EnvModel::new(&catalog::resolve(env)?))).map_err(error)?;
        Ok(Self { model })
    }

    /// The env file's `id`.
    #[getter]
    fn id(&self) -> &str {
        &self.model.spec().id
    }
    /// The env file's `version` (of its dynamics).
    #[getter]
    fn version(&self) -> u32 {
        self.model.spec().version
    }
    /// Where the env file was read from (`environments/<id>.toml` for a built-in).
    #[getter]
    fn path(&self) -> &str {
        self.model.path()
    }
    /// Hex SHA-256 of the env file.
    #[getter]
    fn hash(&self) -> &str {
        self.model.hash()
    }
    /// The env file's description.
    #[getter]
    fn description(&self) -> &str {
        &self.model.spec().description
    }
    /// The env file's default task.
    #[getter]
    fn task(&self) -> &str {
        &self.model.spec().task
    }
    /// Length of the observation vector.
    #[getter]
    fn obs_dim(&self) -> usize {
        self.model.obs_dim()
    }
    /// Length of the action vector.
    #[getter]
    fn action_dim(&self) -> usize {
        self.model.action_dim()
    }
    /// Steps after which an episode is truncated.
    #[getter]
    fn episode_length(&self) -> u32 {
        self.model.spec().physics.episode_length
    }
    /// Seconds one action lasts.
    #[getter]
    fn control_dt(&self) -> f64 {
        self.model.spec().control_dt()
    }
    /// One name per observation component (`EnvModel::observation_names`: `goal.x`, `q.w`,
    /// `joints[3]`… for the components of vectors, quaternions and arrays).
    #[getter]
    fn obs_names(&self) -> Vec<String> {
        self.model.observation_names()
    }
    /// One name per action component: the actuators' names.
    #[getter]
    fn action_names(&self) -> Vec<String> {
        self.model.action_names()
    }
    /// File names of the env's built-in reward scripts (`human.rhai`, `sparse.rhai`, …); empty
    /// for an env that is not built in.
    #[getter]
    fn builtin_scripts(&self) -> Vec<String> {
        catalog::reward_scripts(&self.model.spec().id).into_iter().map(|(path, _)| path.rsplit('/').next().unwrap_or(path).to_owned()).collect()
    }

    /// A built-in reward script of this env by file name: `(name, source)`, or `None`.
    fn builtin_script(&self, file: &str) -> Option<(&'static str, &'static str)> {
        catalog::reward_script(&self.model.spec().id, file)
    }

    /// Compiles a reward script without keeping it, for its error (`RewardsmithError`, naming the
    /// script's line:column) before instances are built.
    fn check_reward(&self, name: &str, source: &str) -> PyResult<()> {
        compile_reward(&self.model, Some(name), Some(source)).map(|_| ())
    }

    fn __repr__(&self) -> String {
        format!("Model({:?}, version={}, path={:?})", self.model.spec().id, self.model.spec().version, self.model.path())
    }
}

/// Interned `reward_<term>` keys of the info dictionary, rebuilt only when the term names change
/// (they are fixed by a script's first call, so in practice once).
#[derive(Default)]
struct InfoKeys {
    names: Vec<String>,
    keys: Vec<Py<PyString>>,
    tuple: Option<Py<PyTuple>>,
}

impl InfoKeys {
    fn update(&mut self, py: Python<'_>, names: &[String]) -> PyResult<()> {
        if self.tuple.is_none() || self.names.as_slice() != names {
            self.names = names.to_vec();
            self.keys = names.iter().map(|n| PyString::intern(py, &format!("reward_{n}")).unbind()).collect();
            self.tuple = Some(PyTuple::new(py, names)?.unbind());
        }
        Ok(())
    }
}

/// One environment instance: `reset(seed)` and `step(action)`.
#[pyclass(module = "rewardsmith._native")]
struct Env {
    env: rewardsmith_sim::Env,
    action: Vec<f32>,
    keys: InfoKeys,
    fitness_key: Py<PyString>,
}

#[pymethods]
impl Env {
    /// An instance of `model` with the reward script `(reward_name, reward_source)` (neither:
    /// reward 0, no terms).
    #[new]
    #[pyo3(signature = (model, reward_name=None, reward_source=None))]
    fn new(py: Python<'_>, model: &Model, reward_name: Option<&str>, reward_source: Option<&str>) -> PyResult<Self> {
        let reward = compile_reward(&model.model, reward_name, reward_source)?;
        let env = guarded(|| rewardsmith_sim::Env::new(model.model.clone(), reward)).map_err(error)?;
        let action = vec![0.0; model.model.action_dim()];
        Ok(Self { env, action, keys: InfoKeys::default(), fitness_key: PyString::intern(py, "fitness").unbind() })
    }

    /// Starts the episode of reset seed `seed` (an `episode_seed`); returns the observation.
    fn reset<'py>(&mut self, py: Python<'py>, seed: u64) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let env = &mut self.env;
        let obs = py.detach(|| guarded(|| env.reset(seed))).map_err(error)?;
        Ok(PyArray1::from_slice(py, obs))
    }

    /// Applies `action` (float32, `action_dim` components; clipped to [-1, 1], NaN counts as 0).
    /// Returns `(obs, reward, terminated, truncated, info)`, `info` holding `reward_<term>` for
    /// each reward term and `fitness`.
    fn step<'py>(&mut self, py: Python<'py>, action: PyReadonlyArrayDyn<'py, f32>) -> PyResult<Bound<'py, PyTuple>> {
        let Self { env, action: buf, keys, fitness_key } = self;
        read_actions(&action, buf.len(), buf)?;
        let step = py.detach(|| guarded(|| env.step(buf))).map_err(error)?;
        keys.update(py, &step.terms.names)?;
        let info = PyDict::new(py);
        for (key, value) in keys.keys.iter().zip(&step.terms.values) {
            info.set_item(key.bind(py), *value)?;
        }
        info.set_item(fitness_key.bind(py), step.fitness)?;
        let obs = PyArray1::from_slice(py, step.obs);
        (obs, step.reward, step.terminated, step.truncated, info).into_pyobject(py)
    }

    /// The current observation (a copy).
    fn obs<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f32>> {
        PyArray1::from_slice(py, self.env.obs())
    }

    /// Steps taken in the current episode.
    #[getter]
    fn steps(&self) -> u32 {
        self.env.steps()
    }

    /// Names of the reward terms (empty until the first step).
    #[getter]
    fn term_names(&self) -> Vec<String> {
        self.env.terms_names().map(<[String]>::to_vec).unwrap_or_default()
    }
}

/// Many instances of one environment stepped on a thread pool, with auto-reset in the same step
/// (a finished instance's row already shows its next episode; its last observation is in
/// `final_obs`).
#[pyclass(module = "rewardsmith._native")]
struct VecEnv {
    venv: rewardsmith_sim::VecEnv,
    actions: Vec<f32>,
    keys: InfoKeys,
}

#[pymethods]
impl VecEnv {
    /// `num_envs` instances of `model` on `threads` worker threads (0: one per core); instance
    /// `i` runs the episodes of seed `derive_seed(seed, i)`.
    #[new]
    #[pyo3(signature = (model, num_envs, seed, threads=0, reward_name=None, reward_source=None))]
    fn new(
        py: Python<'_>,
        model: &Model,
        num_envs: usize,
        seed: u64,
        threads: usize,
        reward_name: Option<&str>,
        reward_source: Option<&str>,
    ) -> PyResult<Self> {
        let reward = compile_reward(&model.model, reward_name, reward_source)?;
        let m = &model.model;
        let venv = py.detach(|| guarded(|| rewardsmith_sim::VecEnv::new(m, reward, num_envs, threads, seed))).map_err(error)?;
        let actions = Vec::with_capacity(num_envs * m.action_dim());
        Ok(Self { venv, actions, keys: InfoKeys::default() })
    }

    /// Number of instances.
    #[getter]
    fn num_envs(&self) -> usize {
        self.venv.num_envs()
    }
    /// Worker threads.
    #[getter]
    fn threads(&self) -> usize {
        self.venv.threads()
    }

    /// Resets every instance to the first episode of its seed stream; returns the observations,
    /// `num_envs × obs_dim`.
    fn reset<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let (n, d) = (self.venv.num_envs(), self.venv.obs_dim());
        let venv = &mut self.venv;
        let obs = py.detach(|| guarded(|| venv.reset())).map_err(error)?;
        array2(py, obs, n, d)
    }

    /// Steps every instance with its row of `actions` (`num_envs × action_dim` float32). Returns
    /// `(obs, rewards, terminated, truncated, fitness, terms, term_names, final_obs)`: `terms` is
    /// `num_envs × len(term_names)`; rows of `final_obs` hold the last observation of the
    /// instances whose episode ended (stale data elsewhere).
    fn step<'py>(&mut self, py: Python<'py>, actions: PyReadonlyArrayDyn<'py, f32>) -> PyResult<Bound<'py, PyTuple>> {
        let (n, d, a) = (self.venv.num_envs(), self.venv.obs_dim(), self.venv.action_dim());
        let Self { venv, actions: buf, keys } = self;
        read_actions(&actions, n * a, buf)?;
        let step = py.detach(|| guarded(|| venv.step(buf))).map_err(error)?;
        keys.update(py, step.term_names)?;
        let k = step.term_names.len();
        let names = keys.tuple.as_ref().expect("set by update").bind(py).clone();
        (
            array2(py, step.obs, n, d)?,
            PyArray1::from_slice(py, step.rewards),
            PyArray1::from_slice(py, step.terminated),
            PyArray1::from_slice(py, step.truncated),
            PyArray1::from_slice(py, step.fitness),
            array2(py, step.terms, n, k)?,
            names,
            array2(py, step.final_obs, n, d)?,
        )
            .into_pyobject(py)
    }
}

/// The reset seed of episode `episode` of a run seeded `seed` (as `rewardsmith rollout --seed`
/// uses it).
#[pyfunction]
fn episode_seed(seed: u64, episode: u64) -> u64 {
    rewardsmith_sim::episode_seed(seed, episode)
}

/// Seed `stream` derived from `seed` (a `VecEnv` seeded `seed` runs instance `i` on
/// `derive_seed(seed, i)`).
#[pyfunction]
fn derive_seed(seed: u64, stream: u64) -> u64 {
    rewardsmith_sim::derive_seed(seed, stream)
}

/// Ids of the built-in environments, sorted.
#[pyfunction]
fn builtin_ids() -> Vec<&'static str> {
    catalog::ids()
}

/// `(id, version, episode_length)` of an env file, read and validated but not compiled (what
/// registering Gymnasium ids needs, cheaply).
#[pyfunction]
fn env_header(py: Python<'_>, env: &str) -> PyResult<(String, u32, u32)> {
    let loaded = py.detach(|| guarded(|| Ok(catalog::resolve(env)?))).map_err(error)?;
    Ok((loaded.spec.id, loaded.spec.version, loaded.spec.physics.episode_length))
}

/// `rewardsmith bench`'s figures for one env (`rewardsmith_sim::bench::bench_env`), as JSON text:
/// Rust's own throughput, measured in this process for the Python benchmark to compare with.
#[pyfunction(name = "bench")]
#[pyo3(signature = (model, reward_name=None, reward_source=None, steps=20_000, repeats=5, num_envs=64, vec_steps=200))]
#[allow(clippy::too_many_arguments)] // mirrors BenchConfig's fields as Python keywords
fn run_bench(
    py: Python<'_>,
    model: &Model,
    reward_name: Option<&str>,
    reward_source: Option<&str>,
    steps: usize,
    repeats: usize,
    num_envs: usize,
    vec_steps: usize,
) -> PyResult<String> {
    use rewardsmith_sim::bench::{BenchConfig, bench_env};
    let reward = compile_reward(&model.model, reward_name, reward_source)?;
    let cfg = BenchConfig { steps, repeats, num_envs, vec_steps };
    let m = &model.model;
    let result = py.detach(|| guarded(|| bench_env(m, reward, &cfg))).map_err(error)?;
    serde_json::to_string(&result).map_err(error)
}

/// The rollout file at `path` as `rewardsmith export --format npz` writes it (re-simulated in the
/// env it was recorded with, or in `env`, bit for bit), as bytes for `numpy.load`: the one
/// encoding of a table, shared with the CLI (`read_rollout` in Python unpacks it).
#[pyfunction]
#[pyo3(signature = (path, env=None))]
fn export_npz<'py>(py: Python<'py>, path: std::path::PathBuf, env: Option<&str>) -> PyResult<Bound<'py, PyBytes>> {
    let table = py.detach(|| guarded(|| rewardsmith_sim::export::export_file(&path, env))).map_err(error)?;
    Ok(PyBytes::new(py, &table.to_npz_bytes()))
}

/// The extension module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("RewardsmithError", m.py().get_type::<RewardsmithError>())?;
    m.add_class::<Model>()?;
    m.add_class::<Env>()?;
    m.add_class::<VecEnv>()?;
    m.add_function(wrap_pyfunction!(episode_seed, m)?)?;
    m.add_function(wrap_pyfunction!(derive_seed, m)?)?;
    m.add_function(wrap_pyfunction!(builtin_ids, m)?)?;
    m.add_function(wrap_pyfunction!(env_header, m)?)?;
    m.add_function(wrap_pyfunction!(run_bench, m)?)?;
    m.add_function(wrap_pyfunction!(export_npz, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
