//! Key bindings: what each key does.

use bevy::input::keyboard::KeyCode;

/// Something the person asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Space: pause or resume.
    TogglePause,
    /// ← / →: one frame back or forward (pauses).
    Step(i64),
    /// `+` / `=`: twice as fast.
    Faster,
    /// `-`: half as fast.
    Slower,
    /// R: back to the first frame.
    Restart,
    /// N / P: next or previous episode.
    Episode(i64),
    /// `0`-`9`, `a`-`f`: rank that tile next.
    Rank(usize),
    /// Backspace: take back the last tile ranked.
    Undo,
    /// Enter: write the ranking and quit.
    Submit,
    /// Esc: quit without writing.
    Quit,
    /// S: show or hide fitness (hidden at first in human-feedback runs, not to bias the ranker).
    ToggleFitness,
    /// T: show or hide each tile's reward terms and fitness over the episode.
    ToggleTerms,
}

/// The action of `key`, if it has one.
pub fn action(key: KeyCode) -> Option<Action> {
    use KeyCode::*;
    let digits = [Digit0, Digit1, Digit2, Digit3, Digit4, Digit5, Digit6, Digit7, Digit8, Digit9];
    let numpad = [Numpad0, Numpad1, Numpad2, Numpad3, Numpad4, Numpad5, Numpad6, Numpad7, Numpad8, Numpad9];
    let hex = [KeyA, KeyB, KeyC, KeyD, KeyE, KeyF];
    if let Some(i) = digits.iter().position(|k| *k == key).or_else(|| numpad.iter().position(|k| *k == key)) {
        return Some(Action::Rank(i));
    }
    if let Some(i) = hex.iter().position(|k| *k == key) {
        return Some(Action::Rank(10 + i));
    }
    Some(match key {
        Space => Action::TogglePause,
        ArrowLeft => Action::Step(-1),
        ArrowRight => Action::Step(1),
        Equal | NumpadAdd => Action::Faster,
        Minus | NumpadSubtract => Action::Slower,
        KeyR => Action::Restart,
        KeyN => Action::Episode(1),
        KeyP => Action::Episode(-1),
        Backspace => Action::Undo,
        Enter | NumpadEnter => Action::Submit,
        Escape => Action::Quit,
        KeyS => Action::ToggleFitness,
        KeyT => Action::ToggleTerms,
        _ => return None,
    })
}

/// One line per binding, for the help overlay and `view --help`.
pub const HELP: &str = "space pause · ←/→ frame · +/- speed · R restart · N/P episode · S fitness · T terms · \
0-9 a-f rank · Backspace undo · Enter write ranking · Esc quit";
