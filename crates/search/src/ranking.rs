//! Human rankings (ICPL): the search asks for a ranking of a generation's trained candidates by
//! writing `gen-NN/rank-request.json` (the candidates and their evaluation rollouts), and waits for
//! `gen-NN/ranking.json`, written by `rewardsmith rank` or the viewer.

use crate::error::SearchError;
use crate::record::{CandidateResult, corrupt, read_json_if_present, write_json};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// `gen-NN/rank-request.json`: what is to be ranked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankRequest {
    /// Generation index.
    pub generation: usize,
    /// The candidates to rank (`cand-KK`), in candidate order.
    pub candidates: Vec<String>,
    /// Each one's evaluation rollout, relative to the run directory.
    pub rollouts: Vec<String>,
}

/// `gen-NN/ranking.json`: a generation's candidates, most preferred first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ranking {
    /// Generation index.
    pub generation: usize,
    /// Every candidate of the request, most preferred first.
    pub order: Vec<String>,
    /// Who ranked: `rank command`, `viewer`, or the fitness fallback after a timeout.
    pub source: String,
    /// When it was written (RFC 3339, UTC, seconds); absent in rankings written before it was
    /// recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written_at: Option<String>,
    /// What the person said with it (`rank --note`), for the next prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// With `--feedback vlm`: what the vision model was shown and answered (also when its answer
    /// was unusable and the ranking fell back to fitness).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlm: Option<VlmRecord>,
}

/// A vision model's part in a ranking (`ranking.json`'s `vlm`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VlmRecord {
    /// The model asked.
    pub model: String,
    /// Its last reply, as it came (absent when no reply came).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    /// Why its answer was not used (the ranking is then by fitness); absent when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The picture each candidate was shown as, relative to the run directory, in request order.
    pub pictures: Vec<String>,
    /// Requests sent (2 when the first answer could not be parsed).
    pub requests: u64,
    /// Tokens and dollars, as the proposer's usage counts them.
    pub usage: rewardsmith_propose::Usage,
}

/// The generation's directory in `run`.
pub fn generation_dir(run: &Path, generation: usize) -> PathBuf {
    run.join(format!("gen-{generation:02}"))
}

/// Writes the request for `results` (the generation's ranked candidates).
pub fn request(run: &Path, generation: usize, results: &[&CandidateResult]) -> Result<RankRequest, SearchError> {
    let candidates: Vec<String> = results.iter().map(|r| candidate_name(&r.id)).collect();
    let rollouts = candidates.iter().map(|c| format!("gen-{generation:02}/{c}/eval.rollout")).collect();
    let request = RankRequest { generation, candidates, rollouts };
    write_json(&generation_dir(run, generation).join("rank-request.json"), &request)?;
    Ok(request)
}

/// Reads a generation's request (what `rewardsmith rank` validates against).
pub fn read_request(run: &Path, generation: usize) -> Result<RankRequest, SearchError> {
    let path = generation_dir(run, generation).join("rank-request.json");
    read_json_if_present(&path)?.ok_or_else(|| {
        let why = format!(
            "not found (the search has not asked for a ranking of generation {generation}: is it in --feedback human mode, and has it trained that generation?)"
        );
        corrupt(&path, why)
    })
}

/// Checks that `order` ranks every requested candidate exactly once, and writes the ranking
/// (with the person's `note`, if any).
pub fn write(run: &Path, request: &RankRequest, order: Vec<String>, source: &str, note: Option<String>) -> Result<Ranking, SearchError> {
    write_with(run, request, order, source, note, None)
}

/// [`write`], with what a vision model was shown and answered.
pub fn write_with(
    run: &Path,
    request: &RankRequest,
    order: Vec<String>,
    source: &str,
    note: Option<String>,
    vlm: Option<VlmRecord>,
) -> Result<Ranking, SearchError> {
    check(request, &order).map_err(SearchError::Config)?;
    let written_at = Some(humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string());
    let ranking = Ranking { generation: request.generation, order, source: source.to_owned(), written_at, note, vlm };
    write_json(&generation_dir(run, request.generation).join("ranking.json"), &ranking)?;
    Ok(ranking)
}

/// Reads the ranking of a generation if it has been written, checked against the request.
pub fn read(run: &Path, request: &RankRequest) -> Result<Option<Ranking>, SearchError> {
    let path = generation_dir(run, request.generation).join("ranking.json");
    let Some(ranking) = read_json_if_present::<Ranking>(&path)? else { return Ok(None) };
    check(request, &ranking.order).map_err(|e| corrupt(&path, e))?;
    Ok(Some(ranking))
}

/// `order` must be a permutation of the request's candidates.
fn check(request: &RankRequest, order: &[String]) -> Result<(), String> {
    let missing: Vec<&str> = request.candidates.iter().filter(|c| !order.contains(c)).map(String::as_str).collect();
    let unknown: Vec<&str> = order.iter().filter(|c| !request.candidates.contains(c)).map(String::as_str).collect();
    let mut seen = std::collections::BTreeSet::new();
    let repeated: Vec<&str> = order.iter().filter(|c| !seen.insert(c.as_str())).map(String::as_str).collect();
    if missing.is_empty() && unknown.is_empty() && repeated.is_empty() {
        return Ok(());
    }
    let mut problems = Vec::new();
    if !missing.is_empty() {
        problems.push(format!("missing {}", missing.join(", ")));
    }
    if !unknown.is_empty() {
        problems.push(format!("not among the candidates to rank: {}", unknown.join(", ")));
    }
    if !repeated.is_empty() {
        problems.push(format!("ranked twice: {}", repeated.join(", ")));
    }
    Err(format!("a ranking of generation {} must list each of {} once ({})", request.generation, request.candidates.join(", "), problems.join("; ")))
}

/// `cand-KK` of an id `gen-NN/cand-KK`.
fn candidate_name(id: &str) -> String {
    id.rsplit('/').next().unwrap_or(id).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> RankRequest {
        RankRequest { generation: 2, candidates: vec!["cand-00".into(), "cand-01".into(), "cand-03".into()], rollouts: Vec::new() }
    }

    #[test]
    fn a_ranking_must_list_every_candidate_once() {
        let order = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(check(&request(), &order(&["cand-03", "cand-00", "cand-01"])).is_ok());
        let err = check(&request(), &order(&["cand-03", "cand-02", "cand-03"])).unwrap_err();
        assert!(
            err.contains("missing cand-00, cand-01") && err.contains("not among the candidates to rank: cand-02") && err.contains("ranked twice: cand-03"),
            "{err}"
        );
    }
}
