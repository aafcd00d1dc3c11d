//! `search --feedback vlm` against a loopback OpenAI-compatible server that is both the proposer
//! and the vision model: the pictures it is sent, the ranking it gives driving the search, messy
//! answers falling back to fitness, and a replay from the cassette.

use crate::search::{SMALL, json};
use crate::support::{chat_completion, chat_requests, rewardsmith_with_env, text};
use crate::viewer::viewer_binary;
use base64::Engine as _;
use serde_json::Value;
use std::sync::Mutex;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The PNG pictures of a request: every `image_url` part's data URI, decoded. None when the
/// request shows no picture (a proposer's).
fn pictures(body: &Value) -> Option<Vec<Vec<u8>>> {
    let mut found = Vec::new();
    for message in body["messages"].as_array()? {
        for part in message["content"].as_array().into_iter().flatten() {
            if part["type"] == "image_url" {
                let uri = part["image_url"]["url"].as_str().expect("an image_url part has a url");
                let data = uri.strip_prefix("data:image/png;base64,").expect("a PNG data URI");
                found.push(base64::engine::general_purpose::STANDARD.decode(data).expect("valid base64"));
            }
        }
    }
    (!found.is_empty()).then_some(found)
}

/// Answers proposers with two working rewards, and the vision model with `rankings` in turn
/// (the last one repeated), recording how many pictures each ranking request carried.
struct Server {
    rankings: Vec<&'static str>,
    seen: Mutex<Vec<usize>>,
}

impl Respond for Server {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).expect("JSON body");
        match pictures(&body) {
            Some(pngs) => {
                assert!(pngs.iter().all(|p| p.starts_with(b"\x89PNG\r\n\x1a\n")), "every picture is a PNG");
                let mut seen = self.seen.lock().unwrap();
                let answer = self.rankings[seen.len().min(self.rankings.len() - 1)];
                seen.push(pngs.len());
                ResponseTemplate::new(200).set_body_json(chat_completion(&[answer], (100, 10)))
            }
            None => {
                let up = "```rhai\nfn compute_reward(s) {\n    #{ up: s.pole_cos }\n}\n```";
                let calm = "```rhai\nfn compute_reward(s) {\n    #{ up: s.pole_cos, calm: -0.1 * square(s.pole_angular_velocity) }\n}\n```";
                let n = body["n"].as_u64().unwrap_or(1) as usize;
                ResponseTemplate::new(200).set_body_json(chat_completion(&[up, calm][..n.min(2)], (10, 5)))
            }
        }
    }
}

fn serve(runtime: &tokio::runtime::Runtime, rankings: Vec<&'static str>) -> (MockServer, std::sync::Arc<Server>) {
    let server = runtime.block_on(MockServer::start());
    let responder = std::sync::Arc::new(Server { rankings, seen: Mutex::new(Vec::new()) });
    let shared = ArcResponder(responder.clone());
    runtime.block_on(Mock::given(wiremock::matchers::method("POST")).respond_with(shared).mount(&server));
    (server, responder)
}

struct ArcResponder(std::sync::Arc<Server>);

impl Respond for ArcResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.0.respond(request)
    }
}

/// One generation of two candidates, proposed by the loopback LLM and ranked by its vision model.
fn vlm_search(out: &str) -> Vec<&str> {
    let mut args: Vec<&str> = [&SMALL[..], &["2", "--llm", "openai", "--model", "m", "--feedback", "vlm", "--vlm-model", "v", "--out", out]].concat();
    let generations = args.iter().position(|a| *a == "--generations").unwrap();
    args[generations + 1] = "1";
    args
}

#[test]
fn a_vision_model_ranks_pictures_of_each_candidate_and_the_search_follows_it_and_replays() {
    let Some(viewer) = viewer_binary() else { return };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // Against fitness where it can be: the one fitness puts last first.
    let (server, responder) = serve(&runtime, vec!["They differ in how still the pole is.\nRANKING: cand-01 > cand-00"]);
    let dir = tempfile::tempdir().unwrap();
    let base_url = format!("{}/v1", server.uri());
    let vars = [("OPENAI_BASE_URL", base_url.as_str()), ("REWARDSMITH_VIEWER", viewer.to_str().unwrap())];
    let o = rewardsmith_with_env(dir.path(), &vlm_search("live"), &vars);
    assert!(o.status.success(), "{}", text(&o).1);
    assert_eq!(*responder.seen.lock().unwrap(), [2], "one ranking request, one picture per candidate");
    let run = dir.path().join("live");
    let ranking = json(&run.join("gen-00/ranking.json"));
    assert_eq!(ranking["source"], "vlm");
    assert_eq!(ranking["order"], serde_json::json!(["cand-01", "cand-00"]));
    assert_eq!(ranking["vlm"]["model"], "v");
    assert!(ranking["vlm"]["reply"].as_str().unwrap().contains("RANKING: cand-01 > cand-00"));
    for c in ["cand-00", "cand-01"] {
        let png = std::fs::read(run.join(format!("gen-00/{c}/vlm.png"))).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{c}'s picture is kept");
    }
    assert_eq!(json(&run.join("gen-00/generation.json"))["best"], "gen-00/cand-01", "the vision model's choice, as a person's");
    let cassette = std::fs::read_to_string(run.join("llm.jsonl")).unwrap();
    assert!(cassette.contains("sha256:") && !cassette.contains("base64,"), "pictures are recorded by hash");
    // The vision model's requests count in the run's totals as the proposer's do.
    let summary = json(&run.join("summary.json"));
    assert_eq!(summary["usage"]["requests"].as_u64().unwrap(), cassette.lines().count() as u64, "{summary}");
    let report = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(report.contains("Vision model <code>v</code>") && report.contains("data:image/png;base64,"), "the report shows what it was given");
    // In the order it saw them (its reply's "the first" is picture 1), with the place it gave each.
    let (first, second) = (report.find("picture 1: cand-00, ranked 2").unwrap(), report.find("picture 2: cand-01, ranked 1").unwrap());
    assert!(first < second);

    // The replay asks nothing and gives the same run.
    let sent = chat_requests(&runtime, &server);
    let llm = format!("replay:{}", run.join("llm.jsonl").display());
    let mut replay = vlm_search("replayed");
    let at = replay.iter().position(|a| *a == "openai").unwrap();
    replay[at] = &llm;
    let o = rewardsmith_with_env(dir.path(), &replay, &vars[1..]);
    assert!(o.status.success(), "{}", text(&o).1);
    assert_eq!(chat_requests(&runtime, &server), sent, "the replay sent nothing");
    let same = |file: &str| std::fs::read_to_string(run.join(file)).unwrap() == std::fs::read_to_string(dir.path().join("replayed").join(file)).unwrap();
    assert!(same("gen-00/feedback.md") && same("gen-00/cand-00/reward.rhai") && same("gen-00/cand-01/reward.rhai"));
    let fitness = |run: &std::path::Path| json(&run.join("summary.json"))["generations"].clone();
    assert_eq!(fitness(&run), fitness(&dir.path().join("replayed")));
    assert_eq!(json(&dir.path().join("replayed/gen-00/ranking.json"))["order"], ranking["order"]);
}

#[test]
fn messy_answers_are_retried_once_then_the_generation_is_ranked_by_fitness_and_says_so() {
    let Some(viewer) = viewer_binary() else { return };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (server, responder) = serve(&runtime, vec!["Both look fine to me.", "RANKING: cand-00 > cand-00"]);
    let dir = tempfile::tempdir().unwrap();
    let base_url = format!("{}/v1", server.uri());
    let vars = [("OPENAI_BASE_URL", base_url.as_str()), ("REWARDSMITH_VIEWER", viewer.to_str().unwrap())];
    let o = rewardsmith_with_env(dir.path(), &vlm_search("messy"), &vars);
    assert!(o.status.success(), "{}", text(&o).1);
    assert_eq!(responder.seen.lock().unwrap().len(), 2, "the unparseable answer was asked again once");
    let ranking = json(&dir.path().join("messy/gen-00/ranking.json"));
    assert!(ranking["source"].as_str().unwrap().starts_with("fitness"), "{ranking}");
    assert_eq!(ranking["vlm"]["requests"], 2);
    assert!(ranking["vlm"]["error"].as_str().unwrap().contains("cand-00"), "{ranking}");
    assert_eq!(ranking["vlm"]["reply"], "RANKING: cand-00 > cand-00");
}
