//! The tile grid: K candidates in a near-square grid, row by row.

/// Most tiles a window shows (keys `0`-`9` and `a`-`f` rank them).
pub const MAX_TILES: usize = 16;

/// Columns and rows of a grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    /// Tiles per row.
    pub cols: u32,
    /// Rows.
    pub rows: u32,
}

/// A rectangle in pixels, origin at the top left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width.
    pub w: u32,
    /// Height.
    pub h: u32,
}

/// The grid for `n` tiles: as many columns as the square root rounded up, then the rows needed
/// (4 → 2×2, 5 → 3×2, 8 → 3×3, 16 → 4×4).
pub fn grid(n: usize) -> Grid {
    let n = n.max(1) as u32;
    let cols = (1..=n).find(|c| c * c >= n).unwrap_or(n);
    Grid { cols, rows: n.div_ceil(cols) }
}

/// Tile `i`'s rectangle in a `width` × `height` window (every tile the same size; the
/// remainder pixels stay at the right and bottom edges).
pub fn tile_rect(grid: Grid, i: usize, width: u32, height: u32) -> Rect {
    let (w, h) = (width / grid.cols, height / grid.rows);
    let (col, row) = (i as u32 % grid.cols, i as u32 / grid.cols);
    Rect { x: col * w, y: row * h, w, h }
}

/// The tile under pixel (`x`, `y`), if any of the `n` tiles is there.
pub fn tile_at(grid: Grid, n: usize, width: u32, height: u32, x: f32, y: f32) -> Option<usize> {
    let (w, h) = ((width / grid.cols) as f32, (height / grid.rows) as f32);
    if x < 0.0 || y < 0.0 || w <= 0.0 || h <= 0.0 {
        return None;
    }
    let (col, row) = ((x / w) as u32, (y / h) as u32);
    let i = (row * grid.cols + col) as usize;
    (col < grid.cols && row < grid.rows && i < n).then_some(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids_are_near_square_and_hold_every_tile() {
        for (n, cols, rows) in [(1, 1, 1), (2, 2, 1), (4, 2, 2), (5, 3, 2), (8, 3, 3), (9, 3, 3), (16, 4, 4)] {
            assert_eq!(grid(n), Grid { cols, rows }, "{n} tiles");
        }
    }

    #[test]
    fn a_click_finds_the_tile_it_lands_on_and_only_a_real_one() {
        let g = grid(5); // 3 × 2 in 900 × 600: tiles of 300 × 300
        assert_eq!(tile_rect(g, 4, 900, 600), Rect { x: 300, y: 300, w: 300, h: 300 });
        assert_eq!(tile_at(g, 5, 900, 600, 350.0, 310.0), Some(4));
        assert_eq!(tile_at(g, 5, 900, 600, 10.0, 10.0), Some(0));
        assert_eq!(tile_at(g, 5, 900, 600, 650.0, 450.0), None, "the sixth cell is empty");
        assert_eq!(tile_at(g, 5, 900, 600, -1.0, 10.0), None);
    }
}
