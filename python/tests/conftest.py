"""Shared fixtures: paths into the repository and small env/script files written per test."""

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def short_cartpole(tmp_path: Path) -> Path:
    """cartpole with 25-step episodes, as a file: episodes end by truncation as well as by
    termination, and the env is loaded from a path rather than by id."""
    text = (REPO / "environments" / "cartpole.toml").read_text()
    assert "episode_length = 500" in text
    path = tmp_path / "short-cartpole.toml"
    path.write_text(text.replace("episode_length = 500", "episode_length = 25"))
    return path


def _cli_candidates():
    if os.environ.get("REWARDSMITH_BIN"):
        yield Path(os.environ["REWARDSMITH_BIN"])
        return
    for target in [os.environ.get("CARGO_TARGET_DIR"), REPO / "target"]:
        if target:
            for profile in ["debug", "release"]:
                yield Path(target) / profile / "rewardsmith"


@pytest.fixture(scope="session")
def cli():
    """Runs the `rewardsmith` binary (``$REWARDSMITH_BIN``, else the newest cargo build of it):
    ``cli("export", path, "--format", "npz")`` returns the completed process, failing the test
    with its output when it exits non-zero."""
    found = sorted((p for p in _cli_candidates() if p.is_file()), key=lambda p: p.stat().st_mtime)
    if not found:
        pytest.fail("no rewardsmith binary: set REWARDSMITH_BIN or `cargo build -p rewardsmith-cli` first")
    binary = str(found[-1])

    def run(*args):
        done = subprocess.run([binary, *map(str, args)], capture_output=True, text=True)
        assert done.returncode == 0, f"rewardsmith {' '.join(map(str, args))}: {done.stdout}{done.stderr}"
        return done

    return run
