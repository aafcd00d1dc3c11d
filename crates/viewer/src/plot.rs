//! The strip under a tile: each reward term and the fitness term over the episode, so a person
//! sees which term drives which behaviour.

use crate::episode::Episode;
use plotters::prelude::*;

/// Curve colours, term by term (the fitness term is drawn in [`FITNESS_COLOR`]).
pub const PALETTE: [(u8, u8, u8); 8] =
    [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75), (227, 119, 194), (188, 189, 34)];

/// The fitness term's colour.
pub const FITNESS_COLOR: (u8, u8, u8) = (20, 20, 20);

/// The colour of term `i`.
pub fn term_color(i: usize) -> (u8, u8, u8) {
    PALETTE[i % PALETTE.len()]
}

/// Each term of `episode` (and its fitness) over the steps, every curve scaled by its own
/// largest magnitude (terms differ by orders of magnitude; the shape is what matters here), on
/// a light background with the zero line: RGB bytes, `width` × `height`.
pub fn term_strip(episode: &Episode, width: u32, height: u32) -> Vec<u8> {
    let mut buffer = vec![0u8; (width * height * 3) as usize];
    let steps = episode.terms.len().max(2);
    {
        let root = BitMapBackend::with_buffer(&mut buffer, (width, height)).into_drawing_area();
        // Drawing into memory cannot fail but for a size of 0, which leaves the buffer empty.
        let _ = draw(&root, episode, steps);
    }
    buffer
}

fn draw(root: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>, episode: &Episode, steps: usize) -> Result<(), Box<dyn std::error::Error>> {
    root.fill(&RGBColor(246, 246, 246))?;
    let mut chart = ChartBuilder::on(root).margin(2).build_cartesian_2d(0f64..(steps - 1) as f64, -1.05f64..1.05f64)?;
    chart.draw_series(LineSeries::new([(0.0, 0.0), ((steps - 1) as f64, 0.0)], RGBColor(200, 200, 200)))?;
    let terms = episode.terms.first().map_or(0, Vec::len);
    let scaled = |values: Vec<f64>| -> Vec<(f64, f64)> {
        let scale = values.iter().fold(0f64, |m, v| if v.is_finite() { m.max(v.abs()) } else { m });
        let scale = if scale > 0.0 { scale } else { 1.0 };
        values.iter().enumerate().map(|(i, v)| (i as f64, if v.is_finite() { v / scale } else { 0.0 })).collect()
    };
    for t in 0..terms {
        let (r, g, b) = term_color(t);
        let values = episode.terms.iter().map(|step| step.get(t).copied().unwrap_or(0.0)).collect();
        chart.draw_series(LineSeries::new(scaled(values), RGBColor(r, g, b).stroke_width(1)))?;
    }
    let (r, g, b) = FITNESS_COLOR;
    chart.draw_series(LineSeries::new(scaled(episode.fitness.clone()), RGBColor(r, g, b).stroke_width(2)))?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_term_leaves_its_colour_in_the_strip() {
        let steps = 50;
        let episode = Episode {
            seed: 0,
            poses: vec![Vec::new(); steps + 1],
            terms: (0..steps).map(|i| vec![(i as f64 / 5.0).sin(), -100.0 * i as f64]).collect(),
            fitness: (0..steps).map(|i| if i > 25 { 1.0 } else { 0.0 }).collect(),
            terminated: false,
        };
        let (w, h) = (200, 60);
        let rgb = term_strip(&episode, w, h);
        assert_eq!(rgb.len(), (w * h * 3) as usize);
        let has = |(r, g, b): (u8, u8, u8)| rgb.chunks(3).any(|p| p == [r, g, b]);
        assert!(has(term_color(0)) && has(term_color(1)) && has(FITNESS_COLOR), "each curve is drawn");
    }
}
