//! `--feedback vlm`'s judge: each candidate's evaluation episode drawn by the viewer as a contact
//! sheet (frames of its first episode, which has the same seed for every candidate, so the
//! pictures differ only by policy), then ranked by a vision model (`rewardsmith_llm::vlm`).

use crate::cmd::viewer::{SheetOptions, render_sheets};
use rewardsmith_llm::vlm::VlmRanker;
use rewardsmith_propose::{Judge, JudgeError, JudgeRequest, Judgement, Usage};
use std::path::PathBuf;

/// Renders, then asks.
pub struct VlmJudge {
    /// The vision model.
    pub ranker: VlmRanker,
    /// How each sheet is drawn (the viewer's defaults: 6 frames, 3 columns, 256 × 192 tiles:
    /// enough to see the motion, few image tokens per candidate).
    pub sheet: SheetOptions,
}

impl Judge for VlmJudge {
    async fn rank(&self, request: &JudgeRequest) -> Result<Judgement, JudgeError> {
        let failed = |message: String| JudgeError::Failed { message, reply: None, usage: Usage::default() };
        let jobs: Vec<(PathBuf, PathBuf)> = request.candidates.iter().map(|c| (c.rollout.clone(), c.picture.clone())).collect();
        // The viewer is a child process; the search waits for the ranking anyway, so blocking
        // this (single-threaded) runtime while it draws holds nothing else up.
        render_sheets(&jobs, &self.sheet).map_err(|e| failed(format!("cannot draw the pictures: {e:#}")))?;
        let mut pictures = Vec::with_capacity(jobs.len());
        for c in &request.candidates {
            let png = std::fs::read(&c.picture).map_err(|e| failed(format!("{}: {e}", c.picture.display())))?;
            pictures.push((c.name.clone(), png));
        }
        let judged = self.ranker.rank(&request.task, request.generation, &pictures).await;
        for warning in self.ranker.take_warnings() {
            eprintln!("warning: {warning}");
        }
        judged
    }
}
