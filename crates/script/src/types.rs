//! The values scripts see: the state type, 3-vectors and quaternions, registered with the engine.

use rhai::{Dynamic, Engine, EvalAltResult, FLOAT, INT};
use std::fmt;
use std::sync::Arc;

/// A 3-vector of f64 in scripts: `v.x`, `v + w`, `v * 2.0`, `v.dot(w)`, `v.cross(w)`, `v.norm()`,
/// `v.normalize()`; built with `vec3(x, y, z)`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Vec3 {
    /// x component.
    pub x: f64,
    /// y component.
    pub y: f64,
    /// z component.
    pub z: f64,
}

impl Vec3 {
    /// A vector from its components.
    pub const fn new(x: f64, y: f64, z: f64) -> Self {
        Self { x, y, z }
    }
    pub(crate) fn dot(self, o: Self) -> f64 {
        self.x * o.x + self.y * o.y + self.z * o.z
    }
    pub(crate) fn cross(self, o: Self) -> Self {
        Self::new(self.y * o.z - self.z * o.y, self.z * o.x - self.x * o.z, self.x * o.y - self.y * o.x)
    }
    pub(crate) fn norm(self) -> f64 {
        self.dot(self).sqrt()
    }
    pub(crate) fn scale(self, k: f64) -> Self {
        Self::new(self.x * k, self.y * k, self.z * k)
    }
    pub(crate) fn add(self, o: Self) -> Self {
        Self::new(self.x + o.x, self.y + o.y, self.z + o.z)
    }
    pub(crate) fn sub(self, o: Self) -> Self {
        Self::new(self.x - o.x, self.y - o.y, self.z - o.z)
    }
    /// The unit vector in the same direction; the zero vector stays zero rather than becoming NaN,
    /// so a reward never turns NaN because a distance happened to be exactly 0.
    fn normalize(self) -> Self {
        let n = self.norm();
        if n > 0.0 { self.scale(1.0 / n) } else { self }
    }
}

impl fmt::Display for Vec3 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "vec3({}, {}, {})", self.x, self.y, self.z)
    }
}

/// A unit quaternion (body to world) in scripts: `q.w`, `q.x`, `q.y`, `q.z`, `q.rotate(v)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quat {
    /// Scalar part.
    pub w: f64,
    /// i component.
    pub x: f64,
    /// j component.
    pub y: f64,
    /// k component.
    pub z: f64,
}

impl Quat {
    fn rotate(self, v: Vec3) -> Vec3 {
        // v' = v + 2 q_v × (q_v × v + w v)
        let q = Vec3::new(self.x, self.y, self.z);
        let t = q.cross(v).add(v.scale(self.w));
        v.add(q.cross(t).scale(2.0))
    }
}

impl fmt::Display for Quat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "quat(w: {}, x: {}, y: {}, z: {})", self.w, self.x, self.y, self.z)
    }
}

/// One state variable's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A number.
    Float(f64),
    /// A 3-vector.
    Vec3(Vec3),
    /// An orientation.
    Quat(Quat),
    /// A list of numbers (the `action` source).
    Array(Vec<f64>),
}

impl Value {
    /// The value as a script sees it.
    pub fn to_dynamic(&self) -> Dynamic {
        match self {
            Self::Float(x) => Dynamic::from_float(*x),
            Self::Vec3(v) => Dynamic::from(*v),
            Self::Quat(q) => Dynamic::from(*q),
            Self::Array(a) => Dynamic::from_array(a.iter().map(|x| Dynamic::from_float(*x)).collect()),
        }
    }

    /// Converts a script value into a state value (for derived variables).
    pub fn from_dynamic(d: &Dynamic) -> Option<Self> {
        if let Some(x) = d.clone().try_cast::<FLOAT>() {
            Some(Self::Float(x))
        } else if let Ok(i) = d.as_int() {
            Some(Self::Float(i as f64))
        } else if let Some(v) = d.clone().try_cast::<Vec3>() {
            Some(Self::Vec3(v))
        } else {
            d.clone().try_cast::<Quat>().map(Self::Quat)
        }
    }

    /// Appends the value's numbers to `out` (observation order: x, y, z; w, x, y, z).
    pub fn extend_into(&self, out: &mut Vec<f32>) {
        match self {
            Self::Float(x) => out.push(*x as f32),
            Self::Vec3(v) => out.extend([v.x as f32, v.y as f32, v.z as f32]),
            Self::Quat(q) => out.extend([q.w as f32, q.x as f32, q.y as f32, q.z as f32]),
            Self::Array(a) => out.extend(a.iter().map(|x| *x as f32)),
        }
    }
}

/// The names of an environment's state variables, in order; fixes what `s.<name>` means.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StateLayout {
    /// Variable names, in the order of [`StateData::values`].
    pub names: Vec<String>,
}

/// The contents of a [`State`]: one value per layout entry plus the built-ins every state has.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StateData {
    /// Values in layout order.
    pub values: Vec<Value>,
    /// The action just applied (clipped to [-1, 1]); `s.action` in scripts.
    pub action: Vec<f64>,
    /// Control period in s; `s.dt`.
    pub dt: f64,
    /// Actions taken since reset; `s.step`.
    pub step: i64,
    /// Seconds since reset; `s.time`.
    pub time: f64,
}

/// The state handed to scripts as `s`. Cloning is cheap (shared), so passing it to a script costs
/// no copy of the values; the simulator refreshes it in place with [`State::data_mut`].
#[derive(Debug, Clone, Default)]
pub struct State(Arc<StateData>);

impl State {
    /// A state holding `data`.
    pub fn new(data: StateData) -> Self {
        Self(Arc::new(data))
    }
    /// Read access.
    pub fn data(&self) -> &StateData {
        &self.0
    }
    /// Write access; copies only if a script still holds a reference (it cannot, between calls).
    pub fn data_mut(&mut self) -> &mut StateData {
        Arc::make_mut(&mut self.0)
    }
}

type Res<T> = Result<T, Box<EvalAltResult>>;

fn number(d: &Dynamic, what: &str) -> Res<f64> {
    if let Ok(x) = d.as_float() {
        Ok(x)
    } else if let Ok(i) = d.as_int() {
        Ok(i as f64)
    } else {
        Err(format!("{what} must be a number, got {}", d.type_name()).into())
    }
}

/// Registers [`Vec3`], [`Quat`], [`State`] (with one property per layout name) and math helpers.
pub(crate) fn register(engine: &mut Engine, layout: &StateLayout) {
    engine
        .register_type_with_name::<Vec3>("vec3")
        .register_fn("vec3", |x: Dynamic, y: Dynamic, z: Dynamic| -> Res<Vec3> { Ok(Vec3::new(number(&x, "x")?, number(&y, "y")?, number(&z, "z")?)) })
        .register_get("x", |v: &mut Vec3| v.x)
        .register_get("y", |v: &mut Vec3| v.y)
        .register_get("z", |v: &mut Vec3| v.z)
        .register_fn("+", |a: Vec3, b: Vec3| a.add(b))
        .register_fn("-", |a: Vec3, b: Vec3| a.sub(b))
        .register_fn("-", |a: Vec3| a.scale(-1.0))
        .register_fn("*", |a: Vec3, k: FLOAT| a.scale(k))
        .register_fn("*", |k: FLOAT, a: Vec3| a.scale(k))
        .register_fn("*", |a: Vec3, k: INT| a.scale(k as f64))
        .register_fn("*", |k: INT, a: Vec3| a.scale(k as f64))
        .register_fn("/", |a: Vec3, k: FLOAT| a.scale(1.0 / k))
        .register_fn("/", |a: Vec3, k: INT| a.scale(1.0 / k as f64))
        .register_fn("==", |a: Vec3, b: Vec3| a == b)
        .register_fn("dot", |a: &mut Vec3, b: Vec3| a.dot(b))
        .register_fn("cross", |a: &mut Vec3, b: Vec3| a.cross(b))
        .register_fn("norm", |a: &mut Vec3| a.norm())
        .register_fn("norm_squared", |a: &mut Vec3| a.dot(*a))
        .register_fn("normalize", |a: &mut Vec3| a.normalize())
        .register_fn("to_string", |a: &mut Vec3| a.to_string())
        .register_fn("to_debug", |a: &mut Vec3| a.to_string());

    engine
        .register_type_with_name::<Quat>("quat")
        .register_get("w", |q: &mut Quat| q.w)
        .register_get("x", |q: &mut Quat| q.x)
        .register_get("y", |q: &mut Quat| q.y)
        .register_get("z", |q: &mut Quat| q.z)
        .register_fn("rotate", |q: &mut Quat, v: Vec3| q.rotate(v))
        .register_fn("to_string", |q: &mut Quat| q.to_string())
        .register_fn("to_debug", |q: &mut Quat| q.to_string());

    // Math helpers the standard package lacks. Integer arguments are common in LLM code
    // (`clamp(x, 0, 1)`), so the numeric helpers take any number.
    engine
        .register_fn("clamp", |x: Dynamic, lo: Dynamic, hi: Dynamic| -> Res<FLOAT> {
            let (x, lo, hi) = (number(&x, "x")?, number(&lo, "lo")?, number(&hi, "hi")?);
            Ok(x.max(lo).min(hi))
        })
        .register_fn("square", |x: FLOAT| x * x)
        .register_fn("square", |x: INT| (x as FLOAT) * (x as FLOAT));

    engine
        .register_type_with_name::<State>("State")
        .register_get("action", |s: &mut State| -> rhai::Array { s.data().action.iter().map(|a| Dynamic::from_float(*a)).collect() })
        .register_get("dt", |s: &mut State| s.data().dt)
        .register_get("step", |s: &mut State| s.data().step)
        .register_get("time", |s: &mut State| s.data().time)
        .register_fn("to_string", |s: &mut State| format!("State({} variables)", s.data().values.len()))
        .register_fn("to_debug", |s: &mut State| format!("State({} variables)", s.data().values.len()));
    for (index, name) in layout.names.iter().enumerate() {
        engine.register_get(name, move |s: &mut State| -> Res<Dynamic> {
            s.data().values.get(index).map(Value::to_dynamic).ok_or_else(|| format!("state variable {index} is not set").into())
        });
    }
}
