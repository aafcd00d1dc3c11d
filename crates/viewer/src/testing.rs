//! A small search run directory for tests: `n` candidates of pendulum generation 0 with short
//! recorded rollouts, and a ranking request when asked.

use rewardsmith_search::config::{FeedbackMode, SearchConfig};
use rewardsmith_search::ranking::RankRequest;
use rewardsmith_search::{EnvIdentity, RunFile};
use rewardsmith_sim::{Env, EnvModel, rollout};
use rewardsmith_spec::catalog;

/// Steps each fixture rollout records.
pub const STEPS: usize = 20;

/// A run directory with `n` candidates; `human` sets the search's feedback mode and writes a
/// ranking request for all of them.
pub fn run_dir(n: usize, human: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let loaded = catalog::resolve("pendulum").unwrap();
    let model = EnvModel::new(&loaded).unwrap();
    let mut env = Env::new(model, None).unwrap();
    let mut candidates = Vec::new();
    for i in 0..n {
        let name = format!("cand-{i:02}");
        // Each candidate pushes with its own constant torque: distinct trajectories.
        let push = i as f32 / n as f32;
        let recorded = rollout::record(&mut env, i as u64, STEPS, "constant", |_, a| a.fill(push)).unwrap();
        rewardsmith_search::record::write_atomic(&dir.path().join("gen-00").join(&name).join("eval.rollout"), &recorded.to_bytes()).unwrap();
        candidates.push(name);
    }
    let search = SearchConfig { feedback: if human { FeedbackMode::Human } else { FeedbackMode::Fitness }, ..SearchConfig::default() };
    let run = RunFile {
        version: "test".into(),
        env: EnvIdentity { id: loaded.spec.id.clone(), path: loaded.path.clone(), hash: loaded.hash.clone() },
        search,
        ppo: rewardsmith_ppo::config::PpoConfig::default(),
        proposer: toml::Table::new(),
    };
    std::fs::write(dir.path().join("run.toml"), toml::to_string(&run).unwrap()).unwrap();
    if human {
        let rollouts = candidates.iter().map(|c| format!("gen-00/{c}/eval.rollout")).collect();
        let request = RankRequest { generation: 0, candidates, rollouts };
        std::fs::write(dir.path().join("gen-00/rank-request.json"), serde_json::to_string(&request).unwrap()).unwrap();
    }
    dir
}
