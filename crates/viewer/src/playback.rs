//! The playback clock every tile follows, so that the same frame index is the same simulated
//! time in every tile.

/// Slowest and fastest playback, as multiples of real time.
pub const SPEED_RANGE: (f64, f64) = (1.0 / 16.0, 16.0);

/// The shared clock: a position in frames, advancing at `speed` × real time while not paused,
/// looping over the longest episode; a tile whose episode is shorter holds its last frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Playback {
    /// Current position in frames (fractional between frames).
    position: f64,
    /// Multiple of real time (1: one frame per control step of simulated time).
    pub speed: f64,
    /// Whether the clock stands still.
    pub paused: bool,
    /// Frames of the longest episode shown (at least 1).
    frames: usize,
    /// Simulated seconds per frame (the env's control step).
    frame_seconds: f64,
}

impl Playback {
    /// A clock at frame 0, real time, playing, over `frames` frames of `frame_seconds` each.
    pub fn new(frames: usize, frame_seconds: f64) -> Self {
        Self { position: 0.0, speed: 1.0, paused: false, frames: frames.max(1), frame_seconds: frame_seconds.max(1e-6) }
    }

    /// Moves the clock by `seconds` of wall time (nothing while paused), looping at the end.
    pub fn advance(&mut self, seconds: f64) {
        if self.paused || !seconds.is_finite() || seconds <= 0.0 {
            return;
        }
        self.position = (self.position + seconds * self.speed / self.frame_seconds).rem_euclid(self.frames as f64);
    }

    /// Steps `delta` whole frames (pausing: stepping is for looking closely), looping.
    pub fn step(&mut self, delta: i64) {
        self.paused = true;
        let frame = self.frame() as i64 + delta;
        self.position = frame.rem_euclid(self.frames as i64) as f64;
    }

    /// Doubles the speed, up to [`SPEED_RANGE`]'s top.
    pub fn faster(&mut self) {
        self.speed = (self.speed * 2.0).min(SPEED_RANGE.1);
    }

    /// Halves the speed, down to [`SPEED_RANGE`]'s bottom.
    pub fn slower(&mut self) {
        self.speed = (self.speed / 2.0).max(SPEED_RANGE.0);
    }

    /// Back to frame 0 (playing or paused as before).
    pub fn restart(&mut self) {
        self.position = 0.0;
    }

    /// Jumps to `frame` (clamped to the last).
    pub fn seek(&mut self, frame: usize) {
        self.position = frame.min(self.frames - 1) as f64;
    }

    /// Pauses or resumes.
    pub fn toggle_pause(&mut self) {
        self.paused = !self.paused;
    }

    /// Shows episodes of `frames` frames from frame 0.
    pub fn set_frames(&mut self, frames: usize) {
        self.frames = frames.max(1);
        self.position = 0.0;
    }

    /// The current frame.
    pub fn frame(&self) -> usize {
        (self.position.floor() as usize).min(self.frames - 1)
    }

    /// The frame an episode of `frames` frames shows now: the current one, or its last.
    pub fn frame_for(&self, frames: usize) -> usize {
        self.frame().min(frames.saturating_sub(1))
    }

    /// Frames of the longest episode.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Simulated seconds at the current frame.
    pub fn seconds(&self) -> f64 {
        self.frame() as f64 * self.frame_seconds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_advances_in_simulated_time_and_loops_over_the_longest_episode() {
        let mut p = Playback::new(10, 0.02);
        p.advance(0.05); // 2.5 frames at real time
        assert_eq!(p.frame(), 2);
        p.faster();
        p.advance(0.05); // 5 more frames at 2×
        assert_eq!(p.frame(), 7);
        p.advance(0.04); // 4 more: past the end, loops
        assert_eq!(p.frame(), 1);
        assert_eq!(p.frame_for(1), 0, "a one-frame episode holds its frame");
    }

    #[test]
    fn stepping_pauses_and_wraps_and_a_paused_clock_stands_still() {
        let mut p = Playback::new(5, 0.1);
        p.step(-1);
        assert!(p.paused);
        assert_eq!(p.frame(), 4);
        p.advance(10.0);
        assert_eq!(p.frame(), 4, "paused");
        p.step(1);
        assert_eq!(p.frame(), 0);
        p.toggle_pause();
        p.restart();
        assert!(!p.paused && p.frame() == 0);
    }

    #[test]
    fn speed_stays_within_its_range() {
        let mut p = Playback::new(5, 0.1);
        for _ in 0..20 {
            p.faster();
        }
        assert_eq!(p.speed, SPEED_RANGE.1);
        for _ in 0..40 {
            p.slower();
        }
        assert_eq!(p.speed, SPEED_RANGE.0);
    }
}
