//! Contact sheets: one small picture of a rollout's episode for a vision-language model, a grid
//! of frames at evenly spaced times, each labelled with its time. The geometry (which frames,
//! where each tile and each sheet goes) lives here and needs no GPU; `render::render_sheets`
//! draws it.
//!
//! Why one small still picture rather than a video or full-size frames: a VLM request is priced
//! (and slowed) by image tiles of a few hundred pixels, so 768 × 384 pixels by default (six 256 ×
//! 192 frames) costs a handful of tiles per candidate while still showing where every body went.

use crate::layout::Rect;

/// Widest and tallest render target (pixels): wgpu's default texture limit, which every adapter
/// (Mesa's lavapipe included) supports.
pub const MAX_CANVAS_PX: u32 = 8192;

/// Most frames a sheet shows: each is a camera pass, and a VLM reads a dozen tiles better than a
/// hundred thumbnails.
pub const MAX_FRAMES: usize = 64;

/// How a contact sheet looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SheetOptions {
    /// Frames shown (at least 2: the first and last frames are always among them).
    pub frames: usize,
    /// Tiles per row (at most `frames`: a sheet has no empty columns).
    pub columns: usize,
    /// Size of one frame's tile, pixels, (width, height).
    pub tile: (u32, u32),
    /// The episode of the rollout shown (0: the first).
    pub episode: usize,
}

impl Default for SheetOptions {
    /// Six 256 × 192 frames in three columns (768 × 384 pixels) of episode 0.
    fn default() -> Self {
        Self { frames: 6, columns: 3, tile: (256, 192), episode: 0 }
    }
}

impl SheetOptions {
    /// Checks the options, saying what is wrong.
    pub fn check(&self) -> Result<(), String> {
        if !(2..=MAX_FRAMES).contains(&self.frames) {
            return Err(format!("a sheet shows 2 to {MAX_FRAMES} frames, not {}", self.frames));
        }
        if self.columns == 0 {
            return Err("a sheet needs at least one column".into());
        }
        if self.tile.0 < 16 || self.tile.1 < 16 {
            return Err(format!("tiles of {}x{} pixels are too small (16x16 at least)", self.tile.0, self.tile.1));
        }
        let (w, h) = self.size();
        if w > MAX_CANVAS_PX || h > MAX_CANVAS_PX {
            return Err(format!("a sheet of {w}x{h} pixels is larger than {MAX_CANVAS_PX} pixels a side"));
        }
        Ok(())
    }

    /// Columns actually used: `columns`, at most `frames`.
    pub fn cols(&self) -> usize {
        self.columns.clamp(1, self.frames.max(1))
    }

    /// Rows: as many as the frames need.
    pub fn rows(&self) -> usize {
        self.frames.max(1).div_ceil(self.cols())
    }

    /// The sheet's size in pixels: columns × tile width by rows × tile height.
    pub fn size(&self) -> (u32, u32) {
        (self.cols() as u32 * self.tile.0, self.rows() as u32 * self.tile.1)
    }

    /// Frame `i`'s tile within a sheet whose top-left corner is at (`x`, `y`), pixels; row by row.
    pub fn tile_rect(&self, x: u32, y: u32, i: usize) -> Rect {
        let (col, row) = ((i % self.cols()) as u32, (i / self.cols()) as u32);
        Rect { x: x + col * self.tile.0, y: y + row * self.tile.1, w: self.tile.0, h: self.tile.1 }
    }
}

/// The frames of an episode of `episode_frames` frames a sheet of `n` shows: frame i at i/(n−1)
/// of the episode, rounded to the nearest frame (the first and the last always among them;
/// repeated when the episode has fewer frames than the sheet).
pub fn frame_indices(episode_frames: usize, n: usize) -> Vec<usize> {
    let last = episode_frames.saturating_sub(1);
    if n <= 1 {
        return vec![last; n];
    }
    (0..n).map(|i| (2 * i * last + (n - 1)) / (2 * (n - 1))).collect()
}

/// A tile's label: its time in seconds, `t = 1.20 s`.
pub fn time_label(seconds: f64) -> String {
    format!("t = {seconds:.2} s")
}

/// Sheets placed on one render target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packing {
    /// Each sheet's top-left corner, pixels.
    pub origins: Vec<(u32, u32)>,
    /// The target's width, pixels.
    pub width: u32,
    /// The target's height, pixels.
    pub height: u32,
}

/// Where `count` sheets of `sheet` = (width, height) pixels go on one render target, and the
/// target's size: sheets in rows, as many per row as keep the target near square and within
/// [`MAX_CANVAS_PX`]. `None` when they do not fit (then render them in several runs).
pub fn pack(count: usize, sheet: (u32, u32)) -> Option<Packing> {
    let (w, h) = (sheet.0.max(1), sheet.1.max(1));
    let count = count.max(1);
    let most = (MAX_CANVAS_PX / w).max(1) as usize;
    // Near square in pixels: sheets are wider than tall, so fewer columns than rows' worth.
    let cols = (1..=count).find(|c| (*c as u32) * w >= (count.div_ceil(*c) as u32) * h).unwrap_or(count).min(most);
    let rows = count.div_ceil(cols);
    let (width, height) = (cols as u32 * w, rows as u32 * h);
    if width > MAX_CANVAS_PX || height > MAX_CANVAS_PX {
        return None;
    }
    let origins = (0..count).map(|i| ((i % cols) as u32 * w, (i / cols) as u32 * h)).collect();
    Some(Packing { origins, width, height })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_evenly_spaced_from_first_to_last() {
        assert_eq!(frame_indices(101, 6), vec![0, 20, 40, 60, 80, 100]);
        assert_eq!(frame_indices(21, 6), vec![0, 4, 8, 12, 16, 20]);
        assert_eq!(frame_indices(11, 4), vec![0, 3, 7, 10], "rounded to the nearest frame");
        assert_eq!(frame_indices(3, 5), vec![0, 1, 1, 2, 2], "fewer frames than tiles: repeated");
        assert_eq!(frame_indices(1, 3), vec![0, 0, 0]);
    }

    #[test]
    fn a_sheet_is_columns_by_rows_of_tiles() {
        let o = SheetOptions::default();
        assert_eq!((o.cols(), o.rows(), o.size()), (3, 2, (768, 384)));
        assert_eq!(o.tile_rect(0, 0, 4), Rect { x: 256, y: 192, w: 256, h: 192 });
        assert_eq!(o.tile_rect(768, 384, 0), Rect { x: 768, y: 384, w: 256, h: 192 });
        let seven = SheetOptions { frames: 7, columns: 3, ..o };
        assert_eq!((seven.rows(), seven.size()), (3, (768, 576)));
        let wide = SheetOptions { frames: 2, columns: 3, ..o };
        assert_eq!(wide.size(), (512, 192), "no empty columns");
        assert!(o.check().is_ok());
        assert!(SheetOptions { frames: 1, ..o }.check().is_err());
        assert!(SheetOptions { frames: 64, columns: 1, tile: (256, 192), episode: 0 }.check().is_err(), "12288 pixels tall");
    }

    #[test]
    fn sheets_pack_near_square_within_the_texture_limit() {
        assert_eq!(pack(1, (768, 384)).unwrap(), Packing { origins: vec![(0, 0)], width: 768, height: 384 });
        let p = pack(8, (768, 384)).unwrap();
        assert_eq!((p.width, p.height), (1536, 1536));
        assert_eq!(p.origins[2], (0, 384));
        let p = pack(16, (768, 384)).unwrap();
        assert_eq!((p.width, p.height), (2304, 2304));
        assert!(pack(400, (768, 384)).is_none(), "too many for one target");
    }

    #[test]
    fn labels_give_seconds_to_the_hundredth() {
        assert_eq!(time_label(1.2), "t = 1.20 s");
        assert_eq!(time_label(0.0), "t = 0.00 s");
    }
}
