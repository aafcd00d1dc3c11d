//! The viewer: a generation's recorded rollouts side by side, in sync, ranked by a few keystrokes
//! (ICPL: a person ranks behaviours far faster than they write a reward).
//!
//! Everything a test can check without a GPU lives here and needs only Bevy's app, ECS and input:
//! which candidates a generation has and where its ranking goes ([`generation`]), the episodes of
//! a rollout ([`episode`]), the shared playback clock ([`playback`]), the tile grid
//! ([`layout`]), the ranking state machine ([`ranker`]), the key bindings ([`keys`]) and the Bevy
//! plugin tying them to keyboard input ([`app`]), and the geometry of contact sheets ([`sheet`]).

pub mod app;
pub mod episode;
pub mod generation;
pub mod keys;
pub mod layout;
pub mod playback;
pub mod plot;
pub mod ranker;
#[cfg(feature = "render")]
pub mod render;
pub mod sheet;
#[cfg(test)]
mod testing;

pub use app::{ScriptedKeys, Viewer, ViewerLogic, ViewerLogicPlugin};
pub use generation::{GenerationView, Tile, ViewerError};
