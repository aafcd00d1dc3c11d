//! The viewer's state as a Bevy resource, and the plugin that drives it from keyboard input and
//! the clock. It needs only Bevy's app, ECS, time and input, so it runs (and is tested) without a
//! window or GPU; the rendering plugin reads the same resource.

use crate::generation::GenerationView;
use crate::keys::{Action, action};
use crate::layout::{grid, tile_at};
use crate::playback::Playback;
use crate::ranker::{Ranker, tile_key};
use bevy::app::{App, AppExit, Plugin, PreUpdate, Update};
use bevy::ecs::entity::Entity;
use bevy::ecs::message::{MessageReader, MessageWriter};
use bevy::ecs::resource::Resource;
use bevy::ecs::schedule::{IntoScheduleConfigs, SystemSet};
use bevy::ecs::system::Local;
use bevy::ecs::system::{Res, ResMut};
use bevy::input::ButtonState;
use bevy::input::keyboard::KeyboardInput;
use bevy::input::keyboard::{Key, KeyCode, NativeKey};
use bevy::time::Time;
use rewardsmith_search::ranking::Ranking;

/// The status of a generation the search asked no ranking of.
const VIEWING_ONLY: &str = "viewing only: no ranking was asked for this generation (not a --feedback human search)";

/// Everything the viewer shows and the person has done.
#[derive(Resource, Debug)]
pub struct Viewer {
    /// The generation shown.
    pub view: GenerationView,
    /// The clock all tiles follow.
    pub playback: Playback,
    /// The ranking so far.
    pub ranker: Ranker,
    /// The episode shown (of those every tile has).
    pub episode: usize,
    /// Whether tile labels show fitness.
    pub show_fitness: bool,
    /// Whether each tile shows its reward terms and fitness over the episode.
    pub show_terms: bool,
    /// The last thing worth telling (a refusal, a written ranking).
    pub status: String,
    /// The ranking written by Enter.
    pub written: Option<Ranking>,
}

impl Viewer {
    /// The viewer at the first frame of episode 0, playing; fitness hidden in a human-feedback
    /// run, so it does not bias the ranker.
    pub fn new(view: GenerationView) -> Self {
        let frame_seconds = view.env.spec.control_dt();
        let playback = Playback::new(view.frames(0), frame_seconds);
        let ranker = Ranker::new(view.tiles.len());
        let show_fitness = !view.human_feedback;
        let status = match (&view.request, &view.ranked) {
            (Some(_), Some(r)) => format!("already ranked by {}: {}", r.source, r.order.join(" > ")),
            (Some(_), None) => "rank: press tile keys, best first; Enter writes".to_owned(),
            (None, _) => VIEWING_ONLY.to_owned(),
        };
        Self { view, playback, ranker, episode: 0, show_fitness, show_terms: false, status, written: None }
    }

    /// Does what `action` asks; returns the exit to request, if the viewer should close.
    pub fn apply(&mut self, action: Action) -> Option<AppExit> {
        match action {
            Action::TogglePause => self.playback.toggle_pause(),
            Action::Step(delta) => self.playback.step(delta),
            Action::Faster => self.playback.faster(),
            Action::Slower => self.playback.slower(),
            Action::Restart => self.playback.restart(),
            Action::Episode(delta) => {
                let episodes = self.view.episodes().max(1) as i64;
                self.episode = (self.episode as i64 + delta).rem_euclid(episodes) as usize;
                self.playback.set_frames(self.view.frames(self.episode));
                self.status = format!("episode {} of {episodes}", self.episode + 1);
            }
            Action::Rank(tile) => self.rank(tile),
            Action::Undo => {
                self.status = match self.ranker.undo() {
                    Ok(tile) => format!("took back {}; {}", tile_key(tile), self.ranker.describe()),
                    Err(e) => e.to_string(),
                }
            }
            Action::Submit => return self.submit(),
            Action::Quit => {
                self.status = "quit without writing a ranking".to_owned();
                return Some(AppExit::Success);
            }
            Action::ToggleFitness => self.show_fitness = !self.show_fitness,
            Action::ToggleTerms => self.show_terms = !self.show_terms,
        }
        None
    }

    /// Tile `tile`'s episode now shown.
    pub fn shown_episode(&self, tile: usize) -> Option<&crate::episode::Episode> {
        self.view.tiles.get(tile).and_then(|t| t.episodes.get(self.episode))
    }

    /// Ranks the tile under a click at (`x`, `y`) in a `width` × `height` window.
    pub fn click(&mut self, x: f32, y: f32, width: u32, height: u32) {
        let n = self.view.tiles.len();
        if let Some(tile) = tile_at(grid(n), n, width, height, x, y) {
            self.rank(tile);
        }
    }

    fn rank(&mut self, tile: usize) {
        if self.view.request.is_none() {
            self.status = VIEWING_ONLY.to_owned();
            return;
        }
        self.status = match self.ranker.press(tile) {
            Ok(()) => self.ranker.describe(),
            Err(e) => e.to_string(),
        };
    }

    /// Writes the ranking and closes, or says why not and stays open.
    fn submit(&mut self) -> Option<AppExit> {
        if self.view.request.is_none() {
            self.status = VIEWING_ONLY.to_owned();
            return None;
        }
        let order = match self.ranker.complete() {
            Ok(order) => order,
            Err(e) => {
                self.status = e.to_string();
                return None;
            }
        };
        match self.view.write_ranking(&order) {
            Ok(ranking) => {
                self.status = format!("ranking written: {}", ranking.order.join(" > "));
                self.written = Some(ranking);
                Some(AppExit::Success)
            }
            Err(e) => {
                self.status = format!("ranking not written: {e}");
                None
            }
        }
    }
}

/// Drives [`Viewer`] (inserted by the caller) from key presses, in the order they were made,
/// and from the clock.
pub struct ViewerLogicPlugin;

/// The plugin's systems in `Update` (what draws the viewer runs after them).
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub struct ViewerLogic;

impl Plugin for ViewerLogicPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(PreUpdate, scripted_keys).add_systems(Update, (keyboard, advance).chain().in_set(ViewerLogic));
    }
}

/// Key presses to replay at startup, in order (`view --keys`: scripted rankings for tests and
/// demos go through the same input path as a person's).
#[derive(Resource, Debug, Clone, Default)]
pub struct ScriptedKeys(pub Vec<KeyCode>);

/// Writes the scripted keys as keyboard input, once.
fn scripted_keys(keys: Option<Res<ScriptedKeys>>, mut input: MessageWriter<KeyboardInput>, mut done: Local<bool>) {
    if std::mem::replace(&mut *done, true) {
        return;
    }
    for &key_code in keys.iter().flat_map(|k| k.0.iter()) {
        input.write(KeyboardInput {
            key_code,
            logical_key: Key::Unidentified(NativeKey::Unidentified),
            state: ButtonState::Pressed,
            text: None,
            repeat: false,
            window: Entity::PLACEHOLDER,
        });
    }
}

/// Key presses (not releases, not auto-repeats) become actions, in the order they came.
fn keyboard(mut keys: MessageReader<KeyboardInput>, mut viewer: ResMut<Viewer>, mut exit: MessageWriter<AppExit>) {
    for key in keys.read() {
        if key.state != ButtonState::Pressed || key.repeat {
            continue;
        }
        if let Some(requested) = action(key.key_code).and_then(|a| viewer.apply(a)) {
            exit.write(requested);
            // Keys after Enter or Esc in the same frame change nothing the person will see.
            break;
        }
    }
}

fn advance(time: Res<Time>, mut viewer: ResMut<Viewer>) {
    viewer.playback.advance(time.delta_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{STEPS, run_dir};
    use bevy::app::ScheduleRunnerPlugin;
    use bevy::input::InputPlugin;
    use bevy::time::{TimePlugin, TimeUpdateStrategy};
    use std::path::Path;
    use std::time::Duration;

    /// A headless viewer app on `run`'s generation 0, its clock advancing 20 ms per update.
    fn app(run: &Path) -> App {
        let mut app = App::new();
        app.add_plugins((TimePlugin, ScheduleRunnerPlugin::run_once(), InputPlugin, ViewerLogicPlugin));
        app.insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_millis(20)));
        app.insert_resource(Viewer::new(GenerationView::load(run, Some(0)).unwrap()));
        app
    }

    /// Presses and releases `keys`, all in one frame, then runs it.
    fn press(app: &mut App, keys: &[KeyCode]) {
        for &key_code in keys {
            for state in [ButtonState::Pressed, ButtonState::Released] {
                app.world_mut().write_message(KeyboardInput {
                    key_code,
                    logical_key: Key::Unidentified(NativeKey::Unidentified),
                    state,
                    text: None,
                    repeat: false,
                    window: Entity::PLACEHOLDER,
                });
            }
        }
        app.update();
    }

    fn viewer(app: &App) -> &Viewer {
        app.world().resource::<Viewer>()
    }

    fn exited(app: &mut App) -> bool {
        app.should_exit().is_some()
    }

    #[test]
    fn keys_rank_in_the_order_pressed_undo_and_enter_writes_the_ranking() {
        let run = run_dir(4, true);
        let mut app = app(run.path());
        assert!(!viewer(&app).show_fitness, "fitness hidden in human-feedback runs");
        // Several keys in one frame keep their order.
        press(&mut app, &[KeyCode::Digit2, KeyCode::Digit0, KeyCode::Digit3]);
        assert_eq!(viewer(&app).ranker.order(), [2, 0, 3]);
        press(&mut app, &[KeyCode::Backspace]);
        press(&mut app, &[KeyCode::Digit1]);
        press(&mut app, &[KeyCode::Digit1]);
        assert!(viewer(&app).status.contains("already ranked #3"), "{}", viewer(&app).status);
        assert!(!exited(&mut app));
        // Enter with one tile left ranks it last.
        press(&mut app, &[KeyCode::Enter]);
        assert!(exited(&mut app));
        let written: serde_json::Value = serde_json::from_slice(&std::fs::read(run.path().join("gen-00/ranking.json")).unwrap()).unwrap();
        assert_eq!(written["order"], serde_json::json!(["cand-02", "cand-00", "cand-01", "cand-03"]));
        assert_eq!(written["source"], "viewer");
        assert!(written["written_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{written}");
        assert!(rewardsmith_search::ranking::read(run.path(), viewer(&app).view.request.as_ref().unwrap()).unwrap().is_some(), "the search accepts it");
    }

    #[test]
    fn enter_with_tiles_unranked_writes_nothing_and_stays_open() {
        let run = run_dir(3, true);
        let mut app = app(run.path());
        press(&mut app, &[KeyCode::Digit1, KeyCode::Enter]);
        assert!(!exited(&mut app));
        assert!(viewer(&app).status.contains("unranked: 0, 2"), "{}", viewer(&app).status);
        assert!(!run.path().join("gen-00/ranking.json").exists());
    }

    #[test]
    fn escape_quits_without_writing() {
        let run = run_dir(3, true);
        let mut app = app(run.path());
        press(&mut app, &[KeyCode::Digit1, KeyCode::Digit0, KeyCode::Escape, KeyCode::Enter]);
        assert!(exited(&mut app));
        assert!(!run.path().join("gen-00/ranking.json").exists(), "Esc writes nothing, and keys after it are ignored");
    }

    #[test]
    fn a_generation_without_a_request_is_shown_but_not_ranked() {
        let run = run_dir(2, false);
        let mut app = app(run.path());
        assert!(viewer(&app).show_fitness);
        press(&mut app, &[KeyCode::Digit0, KeyCode::Digit1, KeyCode::Enter]);
        assert!(!exited(&mut app));
        assert!(viewer(&app).ranker.order().is_empty() && viewer(&app).status.contains("viewing only"), "{}", viewer(&app).status);
    }

    #[test]
    fn playback_follows_the_clock_and_the_keys_in_every_tile_at_once() {
        let run = run_dir(2, false);
        let mut app = app(run.path());
        let dt = viewer(&app).view.env.spec.control_dt();
        assert_eq!(viewer(&app).playback.frames(), STEPS + 1);
        // Each update advances 20 ms of wall time at 1×.
        for _ in 0..5 {
            app.update();
        }
        let expected = ((5.0 * 0.02) / dt).floor() as usize;
        assert!(viewer(&app).playback.frame().abs_diff(expected) <= 1, "frame {} after 0.1 s at dt {dt}", viewer(&app).playback.frame());
        press(&mut app, &[KeyCode::KeyR, KeyCode::ArrowRight, KeyCode::ArrowRight]);
        assert!(viewer(&app).playback.paused);
        assert_eq!(viewer(&app).playback.frame(), 2);
        app.update();
        assert_eq!(viewer(&app).playback.frame(), 2, "paused by stepping");
        press(&mut app, &[KeyCode::ArrowLeft, KeyCode::Equal, KeyCode::Space]);
        assert_eq!(viewer(&app).playback.frame(), 1);
        assert_eq!(viewer(&app).playback.speed, 2.0);
        assert!(!viewer(&app).playback.paused);
        press(&mut app, &[KeyCode::KeyS, KeyCode::KeyT]);
        assert!(!viewer(&app).show_fitness && viewer(&app).show_terms);
    }

    #[test]
    fn scripted_keys_go_through_the_same_input_path() {
        let run = run_dir(3, true);
        let mut app = app(run.path());
        app.insert_resource(ScriptedKeys(vec![KeyCode::Digit1, KeyCode::Digit2, KeyCode::Enter]));
        app.update();
        assert!(exited(&mut app));
        assert_eq!(viewer(&app).written.as_ref().unwrap().order, ["cand-01", "cand-02", "cand-00"]);
    }

    #[test]
    fn a_click_ranks_the_tile_under_it() {
        let run = run_dir(4, true);
        let mut app = app(run.path());
        let mut viewer = app.world_mut().resource_mut::<Viewer>();
        viewer.click(700.0, 500.0, 800, 600); // 2 × 2 grid: bottom right
        viewer.click(100.0, 100.0, 800, 600);
        assert_eq!(viewer.ranker.order(), [3, 0]);
    }
}
