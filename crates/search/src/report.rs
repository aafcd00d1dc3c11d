//! `report.html`: one self-contained page (inline CSS and SVG drawn with plotters, no scripts, no
//! external files) about a search, from its run directory alone, finished or not.
//!
//! Sections: the settings; the fitness of every candidate per generation with the best so far;
//! each generation's training curves; the reward terms over training of each generation's best;
//! the final evaluation against the baselines; who ranked each generation, in what order, its
//! reward-hacking alarms and its feedback text; tokens, dollars and training time per
//! generation; every candidate's script with the critic's verdict and what became of it.

use crate::config::FeedbackMode;
use crate::error::SearchError;
use crate::record::{CandidateResult, GenerationRecord, Proposal, RunFile, Summary, Timing, per_seed_text, read_json_if_present};
use plotters::prelude::*;
use std::fmt::Write as _;
use std::path::Path;

/// Size of each chart in pixels.
const CHART: (u32, u32) = (720, 300);

/// Colours of series, cycled.
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// One generation as read back from the run directory.
struct GenerationData {
    index: usize,
    proposals: Vec<Proposal>,
    results: Vec<Option<CandidateResult>>,
    record: Option<GenerationRecord>,
}

/// Writes `RUN/report.html` and returns its path.
pub fn write_report(run: &Path) -> Result<std::path::PathBuf, SearchError> {
    let html = render(run)?;
    let path = run.join("report.html");
    crate::record::write_atomic(&path, html.as_bytes())?;
    Ok(path)
}

/// The report of the search in `run`.
pub fn render(run: &Path) -> Result<String, SearchError> {
    let run_file = RunFile::read(run)?;
    let summary: Option<Summary> = read_json_if_present(&run.join("summary.json"))?;
    let generations = read_generations(run)?;
    let mut h = String::new();
    let title = format!("rewardsmith search: {}", run_file.env.id);
    let _ = write!(
        h,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body><h1>{}</h1>",
        esc(&title),
        esc(&title)
    );
    settings(&mut h, &run_file, summary.as_ref(), &generations);
    let _ = write!(h, "<h2>Fitness of every candidate</h2>{}", fitness_chart(&generations));
    if run_file.search.feedback != FeedbackMode::Fitness {
        let _ = write!(
            h,
            "<p class=\"muted\">The line follows fitness; the winner is picked by the {} ranking (\"picked by\" above), so it may \
             lie below the line.</p>",
            format!("{:?}", run_file.search.feedback).to_lowercase()
        );
    }
    confirmation(&mut h, summary.as_ref());
    best_episode(&mut h, run, summary.as_ref())?;
    final_evaluation(&mut h, summary.as_ref());
    let _ = write!(h, "<h2>Training curves</h2><p>Mean ground-truth fitness of the episodes that ended in each PPO iteration, per candidate.</p>");
    let curves: Vec<String> = generations.iter().filter_map(|g| training_chart(g).map(|svg| format!("<h3>Generation {}</h3>{svg}", g.index))).collect();
    let _ = write!(h, "{}", if curves.is_empty() { NO_TRAINING.to_owned() } else { curves.concat() });
    let _ = write!(h, "<h2>Reward terms of each generation's best</h2><p>Each term's mean over the iteration's steps.</p>");
    let terms: Vec<String> =
        generations.iter().filter_map(|g| terms_chart(g).map(|(id, svg)| format!("<h3>Generation {}: {}</h3>{svg}", g.index, esc(&id)))).collect();
    let _ = write!(h, "{}", if terms.is_empty() { NO_TRAINING.to_owned() } else { terms.concat() });
    rankings_and_feedback(&mut h, run, &generations)?;
    let timing: Option<Timing> = read_json_if_present(&run.join("timing.json"))?;
    costs(&mut h, &generations, summary.as_ref(), timing.as_ref());
    let _ = write!(h, "<h2>Candidates</h2>");
    for g in &generations {
        candidates(&mut h, g);
    }
    let _ = write!(h, "</body></html>");
    Ok(h)
}

const STYLE: &str = "body{font-family:sans-serif;max-width:960px;margin:2em auto;color:#222}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}\
pre{background:#f6f6f6;padding:8px;white-space:pre-wrap;overflow-wrap:anywhere}details{margin:4px 0}.bad{color:#b00}.muted{color:#777}\
.legend{margin:0 0 1em 0;font-size:90%}.legend span{margin-right:1.2em;white-space:nowrap}\
.pictures{display:flex;flex-wrap:wrap;gap:8px}.pictures figure{margin:0}.pictures img{max-width:300px;border:1px solid #ccc}";

/// What a chart section says when no candidate has trained (yet).
const NO_TRAINING: &str = "<p class=\"muted\">No candidate trained yet.</p>";

fn settings(h: &mut String, run: &RunFile, summary: Option<&Summary>, generations: &[GenerationData]) {
    let s = &run.search;
    let proposer = run.proposer.get("llm").and_then(|v| v.as_str()).unwrap_or("?");
    let rows = [
        ("environment", format!("{} ({}, hash {})", run.env.id, run.env.path, &run.env.hash[..run.env.hash.len().min(12)])),
        ("task", s.task.clone().unwrap_or_else(|| "the env's default task".to_owned())),
        ("proposer", proposer.to_owned()),
        ("feedback", format!("{:?}", s.feedback).to_lowercase()),
        ("generations × K", format!("{} × {}", s.generations, s.k)),
        ("training", format!("{} steps per candidate", s.steps.unwrap_or(run.ppo.total_steps))),
        ("evaluation", format!("{} seeds × {} episodes", s.eval_seeds, s.eval_episodes)),
        ("master seed", s.seed.to_string()),
        (
            "status",
            match summary {
                Some(sum) => format!("finished ({}), {} generations", sum.stop_reason, sum.generations.len()),
                None => format!("in progress or interrupted: {} generations started", generations.len()),
            },
        ),
        (
            "best",
            match summary {
                Some(sum) => {
                    sum.best.as_ref().zip(sum.best_fitness).map_or_else(|| "none: no candidate trained".to_owned(), |(b, f)| format!("{b}, fitness {f:.3}"))
                }
                None => "none yet".to_owned(),
            },
        ),
        ("picked by", summary.map(|sum| sum.picked_by.clone()).filter(|p| !p.is_empty()).unwrap_or_else(|| "—".to_owned())),
    ];
    let _ = write!(h, "<table>");
    for (k, v) in rows {
        let _ = write!(h, "<tr><th>{k}</th><td>{}</td></tr>", esc(&v));
    }
    let _ = write!(h, "</table>");
}

/// Every candidate's fitness per generation (points) and the best so far (line).
fn fitness_chart(generations: &[GenerationData]) -> String {
    let points: Vec<(f64, f64)> = generations
        .iter()
        .flat_map(|g| g.results.iter().flatten().filter(|r| r.duplicate_of.is_none()).filter_map(|r| r.fitness.map(|f| (g.index as f64, f))))
        .collect();
    if points.is_empty() {
        return "<p class=\"muted\">No candidate trained yet.</p>".to_owned();
    }
    let mut best_so_far = Vec::new();
    let mut best = f64::NEG_INFINITY;
    for g in generations {
        for (x, f) in points.iter().filter(|(x, _)| *x == g.index as f64) {
            best = best.max(*f);
            let _ = x;
        }
        if best.is_finite() {
            best_so_far.push((g.index as f64, best));
        }
    }
    let (lo, hi) = range(points.iter().map(|p| p.1));
    svg(|root| {
        let mut chart = ChartBuilder::on(root)
            .margin(10)
            .x_label_area_size(32)
            .y_label_area_size(48)
            .build_cartesian_2d(-0.5..(generations.len() as f64 - 0.5).max(0.5), lo..hi)?;
        chart
            .configure_mesh()
            .x_desc("generation")
            .y_desc("fitness")
            .x_labels(generations.len().clamp(2, 20))
            .x_label_formatter(&|x| if x.fract() == 0.0 { format!("{x:.0}") } else { String::new() })
            .draw()?;
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, PALETTE[0].mix(0.6).filled())))?;
        chart.draw_series(LineSeries::new(best_so_far.clone(), PALETTE[3].stroke_width(2)))?;
        Ok(())
    }) + legend([("● candidate".to_owned(), PALETTE[0]), ("— best fitness so far".to_owned(), PALETTE[3])]).as_str()
}

/// A chart's legend as a line of HTML under it: drawn inside the plot, plotters' box covered
/// the curves.
fn legend(entries: impl IntoIterator<Item = (String, RGBColor)>) -> String {
    let items: String = entries.into_iter().map(|(name, c)| format!("<span style=\"color:rgb({},{},{})\">{}</span>", c.0, c.1, c.2, esc(&name))).collect();
    format!("<div class=\"legend\">{items}</div>")
}

/// Training fitness over steps, one line per trained candidate of the generation.
fn training_chart(g: &GenerationData) -> Option<String> {
    let series: Vec<(String, Vec<(f64, f64)>)> = g
        .results
        .iter()
        .flatten()
        .filter(|r| r.duplicate_of.is_none())
        .map(|r| (r.id.clone(), r.checkpoints.iter().filter_map(|c| c.fitness.map(|f| (c.global_step as f64, f))).collect::<Vec<_>>()))
        .filter(|(_, points)| !points.is_empty())
        .collect();
    lines_chart(&series, "environment steps", "training fitness")
}

/// The reward terms of the generation's best over training.
fn terms_chart(g: &GenerationData) -> Option<(String, String)> {
    let best = g.record.as_ref()?.best.clone()?;
    let result = g.results.iter().flatten().find(|r| r.id == best)?;
    let names: Vec<String> = result.checkpoints.first()?.terms.iter().map(|t| t.name.clone()).collect();
    let series: Vec<(String, Vec<(f64, f64)>)> = names
        .iter()
        .map(|name| {
            let points = result.checkpoints.iter().filter_map(|c| c.terms.iter().find(|t| &t.name == name).map(|t| (c.global_step as f64, t.mean))).collect();
            (name.clone(), points)
        })
        .collect();
    Some((best, lines_chart(&series, "environment steps", "term mean per step")?))
}

fn lines_chart(series: &[(String, Vec<(f64, f64)>)], x_desc: &str, y_desc: &str) -> Option<String> {
    let all: Vec<(f64, f64)> = series.iter().flat_map(|(_, p)| p.iter().copied()).collect();
    if all.is_empty() {
        return None;
    }
    let (x_lo, x_hi) = range(all.iter().map(|p| p.0));
    let (y_lo, y_hi) = range(all.iter().map(|p| p.1));
    Some(
        svg(|root| {
            let mut chart = ChartBuilder::on(root).margin(10).x_label_area_size(32).y_label_area_size(56).build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)?;
            chart.configure_mesh().x_desc(x_desc).y_desc(y_desc).x_label_formatter(&|x| format!("{x:.0}")).draw()?;
            for (i, (_, points)) in series.iter().enumerate() {
                chart.draw_series(LineSeries::new(points.clone(), PALETTE[i % PALETTE.len()].stroke_width(2)))?;
            }
            Ok(())
        }) + legend(series.iter().enumerate().map(|(i, (name, _))| (format!("— {name}"), PALETTE[i % PALETTE.len()]))).as_str(),
    )
}

fn final_evaluation(h: &mut String, summary: Option<&Summary>) {
    let Some(final_eval) = summary.and_then(|s| s.final_evaluation.as_ref()) else { return };
    let _ = write!(
        h,
        "<h2>Final evaluation</h2><p>Each reward retrained on {} fresh seeds × {} steps; fitness mean ± standard deviation over the seeds.</p>",
        final_eval.seeds, final_eval.steps
    );
    let entries = &final_eval.entries;
    let (lo, hi) = range(entries.iter().flat_map(|e| [e.fitness_mean - e.fitness_std, e.fitness_mean + e.fitness_std]).chain([0.0]));
    let _ = write!(
        h,
        "{}",
        svg(|root| {
            let mut chart =
                ChartBuilder::on(root).margin(10).x_label_area_size(32).y_label_area_size(48).build_cartesian_2d(-0.5..entries.len() as f64 - 0.5, lo..hi)?;
            chart
                .configure_mesh()
                .x_labels(entries.len())
                .x_label_formatter(&|x| entries.get(x.round() as usize).map_or(String::new(), |e| e.name.clone()))
                .y_desc("fitness")
                .draw()?;
            for (i, e) in entries.iter().enumerate() {
                let x = i as f64;
                let colour = PALETTE[i % PALETTE.len()];
                chart.draw_series([Rectangle::new([(x - 0.3, 0.0), (x + 0.3, e.fitness_mean)], colour.mix(0.7).filled())])?;
                let (a, b) = (e.fitness_mean - e.fitness_std, e.fitness_mean + e.fitness_std);
                chart.draw_series([PathElement::new(vec![(x, a), (x, b)], BLACK.stroke_width(2))])?;
                chart
                    .draw_series([PathElement::new(vec![(x - 0.08, a), (x + 0.08, a)], BLACK), PathElement::new(vec![(x - 0.08, b), (x + 0.08, b)], BLACK)])?;
            }
            Ok(())
        })
    );
    let _ = write!(h, "<table><tr><th>reward</th><th>fitness</th><th>per seed</th><th>from cache</th></tr>");
    for e in entries {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{:.3} ± {:.3}</td><td>{}</td><td>{}</td></tr>",
            esc(&e.name),
            e.fitness_mean,
            e.fitness_std,
            per_seed_text(&e.per_seed),
            e.cached
        );
    }
    let _ = write!(h, "</table>");
    if let Some(text) = final_eval.hns_text() {
        let _ = write!(h, "<p><b>{}</b>.</p>", esc(&text));
    }
}

/// Where `rewardsmith render … --gif` puts the best candidate's episode for the report.
pub const BEST_GIF: &str = "best/episode.gif";

/// The best candidate's episode as an animated GIF, inline, when one was rendered.
fn best_episode(h: &mut String, run: &Path, summary: Option<&Summary>) -> Result<(), SearchError> {
    use base64::Engine as _;
    let path = run.join(BEST_GIF);
    let Ok(gif) = std::fs::read(&path) else {
        if summary.is_some_and(|s| s.best.is_none()) {
            let _ = write!(h, "<h2>The best candidate's episode</h2><p class=\"muted\">No candidate trained, so there is no episode to show.</p>");
            return Ok(());
        }
        // The winner's folder when the search has finished, else a placeholder for it.
        let best = summary.and_then(|s| s.best.clone()).unwrap_or_else(|| "gen-NN/cand-KK".to_owned());
        let _ = write!(
            h,
            "<h2>The best candidate's episode</h2><p class=\"muted\">No GIF of it in this run. A search renders one unless it ran \
             with <code>--no-gif</code>, when it finds the viewer (beside <code>rewardsmith</code>, or at <code>REWARDSMITH_VIEWER</code>). \
             Render it yourself: <code>rewardsmith render {run}/{best}/eval.rollout --gif {gif}</code>, then \
             <code>rewardsmith report {run}</code>.</p>",
            run = esc(&run.display().to_string()),
            best = esc(&best),
            gif = esc(&run.join(BEST_GIF).display().to_string()),
        );
        return Ok(());
    };
    if !gif.starts_with(b"GIF8") {
        return Err(crate::record::corrupt(&path, "not a GIF"));
    }
    let data = base64::engine::general_purpose::STANDARD.encode(&gif);
    let _ = write!(h, "<h2>The best candidate's episode</h2><img alt=\"the best candidate's evaluation episode\" src=\"data:image/gif;base64,{data}\">");
    Ok(())
}

/// The candidates retrained on more seeds before the winner was picked.
fn confirmation(h: &mut String, summary: Option<&Summary>) {
    let Some(summary) = summary.filter(|s| !s.confirmed.is_empty()) else { return };
    let _ = write!(
        h,
        "<h2>Selection</h2><p>The best candidates by their one search training, retrained on more seeds; the winner has the best mean.</p>\
         <table><tr><th>candidate</th><th>fitness mean</th><th>per training seed (search's first)</th></tr>"
    );
    for c in &summary.confirmed {
        let mark = if summary.best.as_deref() == Some(c.id.as_str()) { " (winner)" } else { "" };
        let _ = write!(h, "<tr><td>{}{mark}</td><td>{:.3}</td><td>{}</td></tr>", esc(&c.id), c.fitness_mean, per_seed_text(&c.per_seed));
    }
    let _ = write!(h, "</table>");
}

/// Tokens, dollars and wall time per phase (time from `timing.json`, absent in runs made before
/// it existed).
fn costs(h: &mut String, generations: &[GenerationData], summary: Option<&Summary>, timing: Option<&Timing>) {
    let _ = write!(
        h,
        "<h2>Cost and time</h2><p>Wall-clock seconds per phase; trainings run concurrently, so their summed time can exceed the phase's.</p>\
         <table><tr><th>phase</th><th>LLM requests</th><th>tokens</th><th>dollars</th><th>proposing (s)</th><th>critic (s)</th><th>trainings</th><th>training (s)</th><th>training time summed (s)</th></tr>"
    );
    let secs = |s: Option<f64>| s.map_or("–".to_owned(), |s| format!("{s:.1}"));
    for g in generations {
        let usage = g.record.as_ref().map(|r| r.usage).unwrap_or_default();
        let trained: Vec<&CandidateResult> = g.results.iter().flatten().filter(|r| r.duplicate_of.is_none()).collect();
        // Folded from +0.0: an empty `sum` of floats is -0.0, which would print as "-0.0".
        let summed = trained.iter().fold(0.0, |acc, r| acc + r.seconds);
        let phases = timing.and_then(|t| t.generations.get(g.index));
        let _ = write!(
            h,
            "<tr><td>generation {}</td><td>{}</td><td>{}</td><td>{:.4}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{summed:.1}</td></tr>",
            g.index,
            usage.requests,
            usage.tokens(),
            usage.cost_usd,
            secs(phases.map(|p| p.propose_s)),
            secs(phases.map(|p| p.critic_s)),
            trained.len(),
            secs(phases.map(|p| p.train_s)),
        );
    }
    let after = [("confirmation of the best", timing.map(|t| t.confirm_s)), ("final evaluation", timing.map(|t| t.final_s))];
    for (phase, seconds) in after {
        let _ = write!(h, "<tr><td>{phase}</td><td></td><td></td><td></td><td></td><td></td><td></td><td>{}</td><td></td></tr>", secs(seconds));
    }
    if let Some(s) = summary {
        let total = timing.map(|t| t.confirm_s + t.final_s + t.generations.iter().map(|p| p.propose_s + p.critic_s + p.train_s).sum::<f64>());
        let _ = write!(
            h,
            "<tr><th>all</th><td>{}</td><td>{}</td><td>{:.4}</td><td colspan=\"5\">{} s in all</td></tr>",
            s.usage.requests,
            s.usage.tokens(),
            s.usage.cost_usd,
            secs(total)
        );
    }
    let _ = write!(h, "</table>");
}

/// Per generation: who ranked and in what order, the reward-hacking alarms of its candidates, the
/// person's notes, and the feedback text exactly as the next prompt received it.
fn rankings_and_feedback(h: &mut String, run: &Path, generations: &[GenerationData]) -> Result<(), SearchError> {
    let _ = write!(h, "<h2>Rankings and feedback</h2>");
    for g in generations {
        let _ = write!(h, "<h3>Generation {}</h3>", g.index);
        match &g.record {
            Some(r) => {
                let source = r.ranking_source.as_deref().unwrap_or("fitness");
                let order = if r.ranking.is_empty() { "no candidate ranked".to_owned() } else { r.ranking.join(" &gt; ") };
                let _ = write!(h, "<p>Ranked by <b>{}</b>: {order}</p>", esc(source));
            }
            None => {
                let _ = write!(h, "<p class=\"muted\">Not ranked yet.</p>");
            }
        }
        vlm_ranking(h, run, g.index)?;
        for r in g.results.iter().flatten().filter(|r| r.duplicate_of.is_none()) {
            if let Some(alarm) = crate::reflect::hacking_alarm(&r.checkpoints) {
                let _ = write!(h, "<p class=\"bad\">Reward-hacking alarm, {}: {}</p>", esc(&r.id), esc(&alarm));
            }
        }
        if let Ok(notes) = std::fs::read_to_string(run.join(format!("gen-{:02}/notes.md", g.index)))
            && !notes.trim().is_empty()
        {
            let _ = write!(h, "<p>Notes for the next prompt (<code>--notes</code>, <code>rank --note</code>):</p><pre>{}</pre>", esc(&notes));
        }
        let feedback = run.join(format!("gen-{:02}/feedback.md", g.index));
        if let Ok(text) = std::fs::read_to_string(&feedback) {
            let _ = write!(h, "<details><summary>feedback.md (what the next prompt received)</summary><pre>{}</pre></details>", esc(&text));
        }
    }
    Ok(())
}

/// With `--feedback vlm`: the pictures the vision model was given, in the order it saw them, the
/// place it gave each, and its reply.
fn vlm_ranking(h: &mut String, run: &Path, generation: usize) -> Result<(), SearchError> {
    use base64::Engine as _;
    let path = crate::ranking::generation_dir(run, generation).join("ranking.json");
    let Some(ranking) = crate::record::read_json_if_present::<crate::ranking::Ranking>(&path)? else { return Ok(()) };
    let Some(vlm) = &ranking.vlm else { return Ok(()) };
    // The pictures stay in the order the model saw them, so that its reply's "the first", "the
    // second" read right; each caption gives the place the model ranked it.
    let _ = write!(h, "<p>Vision model <code>{}</code>, {} request(s)", esc(&vlm.model), vlm.requests);
    match &vlm.error {
        Some(e) => {
            let _ = write!(h, "; its answer was not used: <span class=\"bad\">{}</span>. What it was shown, in that order:</p>", esc(e));
        }
        None => {
            let _ = write!(h, ". What it was shown, in that order, with the place it gave each:</p>");
        }
    }
    // Each picture's candidate is the folder it lies in (`gen-NN/cand-KK/vlm.png`).
    let candidate_of = |picture: &str| picture.rsplit('/').nth(1).unwrap_or(picture).to_owned();
    let _ = write!(h, "<div class=\"pictures\">");
    for (i, picture) in vlm.pictures.iter().enumerate() {
        let name = candidate_of(picture);
        let place = ranking.order.iter().position(|c| *c == name).filter(|_| vlm.error.is_none());
        let label = match place {
            Some(p) => format!("picture {}: {name}, ranked {}", i + 1, p + 1),
            None => format!("picture {}: {name}", i + 1),
        };
        match std::fs::read(run.join(picture.as_str())) {
            Ok(png) if png.starts_with(b"\x89PNG") => {
                let data = base64::engine::general_purpose::STANDARD.encode(&png);
                let _ = write!(
                    h,
                    "<figure><img alt=\"{n}\" src=\"data:image/png;base64,{data}\"><figcaption>{l}</figcaption></figure>",
                    n = esc(&name),
                    l = esc(&label)
                );
            }
            _ => {
                let _ = write!(h, "<figure><figcaption>{} (no picture)</figcaption></figure>", esc(&label));
            }
        }
    }
    let _ = write!(h, "</div>");
    if let Some(reply) = &vlm.reply {
        let _ = write!(h, "<details><summary>The vision model's reply</summary><pre>{}</pre></details>", esc(reply));
    }
    Ok(())
}

fn candidates(h: &mut String, g: &GenerationData) {
    let _ = write!(h, "<h3>Generation {}</h3><table><tr><th>candidate</th><th>outcome</th><th>fitness</th><th>critic</th></tr>", g.index);
    for (p, r) in g.proposals.iter().zip(&g.results) {
        let outcome = match (r, p.critic.ok) {
            (_, false) => format!("<span class=\"bad\">rejected ({})</span>", esc(p.critic.stage.as_deref().unwrap_or("critic"))),
            (None, true) => "<span class=\"muted\">not trained</span>".to_owned(),
            (Some(r), true) => match &r.duplicate_of {
                Some(original) => format!("duplicate of {}", esc(original)),
                None if r.fitness.is_none() => format!("<span class=\"bad\">{}: {}</span>", esc(&r.status), esc(r.error.as_deref().unwrap_or(""))),
                None => "trained".to_owned(),
            },
        };
        let fitness = r.as_ref().and_then(|r| r.fitness).map_or(String::new(), |f| format!("{f:.3}"));
        let critic = match (&p.critic.error, p.critic.warnings.is_empty()) {
            (Some(e), _) => format!("<span class=\"bad\">{}</span>", esc(e)),
            (None, false) => esc(&p.critic.warnings.join("; ")),
            (None, true) => "ok".to_owned(),
        };
        let script = p.script.as_deref().map_or(String::new(), |s| format!("<details><summary>script</summary><pre>{}</pre></details>", esc(s)));
        let parents = if p.parents.is_empty() { String::new() } else { format!("<div class=\"muted\">from {}</div>", esc(&p.parents.join(", "))) };
        let _ = write!(h, "<tr><td>{}{parents}{script}</td><td>{outcome}</td><td>{fitness}</td><td>{critic}</td></tr>", esc(&p.name));
    }
    let _ = write!(h, "</table>");
}

/// An SVG chart drawn by `draw`, as a string (a failed drawing becomes a note, not an error:
/// the report is still worth having).
fn svg(draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, plotters::coord::Shift>) -> Result<(), Box<dyn std::error::Error>>) -> String {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, CHART).into_drawing_area();
        let drawn = root
            .fill(&WHITE)
            .map_err(|e| e.to_string())
            .and_then(|()| draw(&root).map_err(|e| e.to_string()))
            .and_then(|()| root.present().map_err(|e| e.to_string()));
        if let Err(e) = drawn {
            return format!("<p class=\"bad\">chart not drawn: {}</p>", esc(&e));
        }
    }
    out
}

/// A padded range holding every value (never empty).
fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(1e-3 * (1.0 + hi.abs()));
    (lo - pad, hi + pad)
}

fn esc(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn read_generations(run: &Path) -> Result<Vec<GenerationData>, SearchError> {
    #[derive(serde::Deserialize)]
    struct Proposals {
        proposals: Vec<Proposal>,
    }
    let mut generations = Vec::new();
    for index in 0.. {
        let dir = run.join(format!("gen-{index:02}"));
        let Some(file) = read_json_if_present::<Proposals>(&dir.join("proposals.json"))? else { break };
        let mut results = Vec::new();
        for p in &file.proposals {
            results.push(read_json_if_present::<CandidateResult>(&dir.join(&p.name).join("result.json"))?);
        }
        let record = read_json_if_present(&dir.join("generation.json"))?;
        generations.push(GenerationData { index, proposals: file.proposals, results, record });
    }
    Ok(generations)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_ranges_are_never_empty() {
        assert_eq!(esc("a < b && \"c\" > d"), "a &lt; b &amp;&amp; &quot;c&quot; &gt; d");
        let (lo, hi) = range([0.5, 0.5].into_iter());
        assert!(lo < 0.5 && hi > 0.5);
        assert_eq!(range(std::iter::empty()), (0.0, 1.0));
    }
}
