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

/// The key named `name` (as `view --keys` takes them): `0`-`9`, `a`-`z`, `enter`, `esc`,
/// `backspace`, `space`, `left`, `right`, `+`, `-` (case-insensitive).
pub fn key_code(name: &str) -> Option<KeyCode> {
    use KeyCode::*;
    const DIGITS: [KeyCode; 10] = [Digit0, Digit1, Digit2, Digit3, Digit4, Digit5, Digit6, Digit7, Digit8, Digit9];
    const LETTERS: [KeyCode; 26] = [
        KeyA, KeyB, KeyC, KeyD, KeyE, KeyF, KeyG, KeyH, KeyI, KeyJ, KeyK, KeyL, KeyM, KeyN, KeyO, KeyP, KeyQ, KeyR, KeyS, KeyT, KeyU, KeyV, KeyW, KeyX, KeyY,
        KeyZ,
    ];
    let name = name.trim().to_ascii_lowercase();
    let single = |range: std::ops::RangeInclusive<u8>, keys: &[KeyCode]| match name.as_bytes() {
        [c] if range.contains(c) => keys.get(usize::from(c - range.start())).copied(),
        _ => None,
    };
    single(b'0'..=b'9', &DIGITS).or_else(|| single(b'a'..=b'z', &LETTERS)).or(match name.as_str() {
        "enter" | "return" => Some(Enter),
        "esc" | "escape" => Some(Escape),
        "backspace" => Some(Backspace),
        "space" => Some(Space),
        "left" => Some(ArrowLeft),
        "right" => Some(ArrowRight),
        "+" | "=" => Some(Equal),
        "-" => Some(Minus),
        _ => None,
    })
}

/// One line per binding, for the help overlay and `view --help`.
/// (ASCII only: Bevy's default font has no arrows or middle dots.)
pub const HELP: &str = "space pause | left/right frame | +/- speed | R restart | N/P episode | S fitness | T terms | \
0-9 a-f rank | Backspace undo | Enter write ranking | Esc quit";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_map_to_the_keys_the_bindings_use() {
        assert_eq!(key_code("2").and_then(action), Some(Action::Rank(2)));
        assert_eq!(key_code("F").and_then(action), Some(Action::Rank(15)));
        assert_eq!(key_code("Enter").and_then(action), Some(Action::Submit));
        assert_eq!(key_code("esc").and_then(action), Some(Action::Quit));
        assert_eq!(key_code("left").and_then(action), Some(Action::Step(-1)));
        assert_eq!(key_code("+").and_then(action), Some(Action::Faster));
        assert_eq!(key_code("enterr"), None);
        assert_eq!(key_code("22"), None);
    }
}
