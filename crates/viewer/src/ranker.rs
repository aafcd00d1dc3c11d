//! The ranking a person builds by pressing tile keys in order of preference.

/// A ranking in progress over `n` tiles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ranker {
    n: usize,
    order: Vec<usize>,
}

/// Why a key press changed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// There is no such tile.
    NoSuchTile(usize),
    /// The tile is ranked already.
    AlreadyRanked {
        /// The tile pressed.
        tile: usize,
        /// Its place in the ranking (0: most preferred).
        place: usize,
    },
    /// Nothing to undo.
    Empty,
    /// Enter with more than one tile unranked: these are missing.
    Incomplete(Vec<usize>),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NoSuchTile(t) => write!(f, "there is no tile {}", tile_key(*t)),
            Refusal::AlreadyRanked { tile, place } => write!(f, "tile {} is already ranked #{}", tile_key(*tile), place + 1),
            Refusal::Empty => write!(f, "nothing to undo"),
            Refusal::Incomplete(missing) => {
                let keys: Vec<String> = missing.iter().map(|t| tile_key(*t).to_string()).collect();
                write!(f, "rank every tile first (unranked: {})", keys.join(", "))
            }
        }
    }
}

/// The key that ranks tile `i`: `0`-`9`, then `a`-`f`.
pub fn tile_key(i: usize) -> char {
    char::from_digit(i as u32, 16).unwrap_or('?')
}

impl Ranker {
    /// An empty ranking of `n` tiles.
    pub fn new(n: usize) -> Self {
        Self { n, order: Vec::new() }
    }

    /// Ranks `tile` next (less preferred than those ranked before it).
    pub fn press(&mut self, tile: usize) -> Result<(), Refusal> {
        if tile >= self.n {
            return Err(Refusal::NoSuchTile(tile));
        }
        if let Some(place) = self.order.iter().position(|&t| t == tile) {
            return Err(Refusal::AlreadyRanked { tile, place });
        }
        self.order.push(tile);
        Ok(())
    }

    /// Takes back the last tile ranked.
    pub fn undo(&mut self) -> Result<usize, Refusal> {
        self.order.pop().ok_or(Refusal::Empty)
    }

    /// The tiles ranked so far, most preferred first.
    pub fn order(&self) -> &[usize] {
        &self.order
    }

    /// The place (0-based) of `tile`, if ranked.
    pub fn place(&self, tile: usize) -> Option<usize> {
        self.order.iter().position(|&t| t == tile)
    }

    /// The whole ranking: every tile ranked, or all but one (which can only come last).
    pub fn complete(&self) -> Result<Vec<usize>, Refusal> {
        let missing: Vec<usize> = (0..self.n).filter(|t| !self.order.contains(t)).collect();
        match missing.as_slice() {
            [] => Ok(self.order.clone()),
            [last] => Ok(self.order.iter().copied().chain([*last]).collect()),
            _ => Err(Refusal::Incomplete(missing)),
        }
    }

    /// The ranking so far in keys, e.g. `3 > 0 > 1`.
    pub fn describe(&self) -> String {
        if self.order.is_empty() {
            return "nothing ranked yet".to_owned();
        }
        self.order.iter().map(|t| tile_key(*t).to_string()).collect::<Vec<_>>().join(" > ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presses_rank_in_order_refuse_repeats_and_unknown_tiles_and_undo_takes_back() {
        let mut r = Ranker::new(4);
        r.press(2).unwrap();
        r.press(0).unwrap();
        assert_eq!(r.press(2), Err(Refusal::AlreadyRanked { tile: 2, place: 0 }));
        assert_eq!(r.press(4), Err(Refusal::NoSuchTile(4)));
        assert_eq!(r.complete(), Err(Refusal::Incomplete(vec![1, 3])));
        assert_eq!(r.undo(), Ok(0));
        r.press(3).unwrap();
        r.press(1).unwrap();
        assert_eq!(r.describe(), "2 > 3 > 1");
        assert_eq!(r.complete(), Ok(vec![2, 3, 1, 0]), "the one left can only come last");
        assert_eq!(Ranker::new(2).undo(), Err(Refusal::Empty));
    }

    #[test]
    fn tiles_past_nine_have_hex_keys() {
        assert_eq!((0..16).map(tile_key).collect::<String>(), "0123456789abcdef");
    }
}
