"""The guard: state a task keeps on its own disk does not reach the next task in an
isolated run, as on a cluster, while the plain local run hides the mistake. (No
`from __future__ import annotations`: KFP reads the annotations as types.)"""

import pytest
from kfp import dsl, local

from pipelines.pods import pod_tasks

pytestmark = pytest.mark.integration


@dsl.component(base_image="python:3.11")
def keep_on_disk() -> str:
    import os
    from pathlib import Path

    kept = Path(os.environ.get("SLUICE_HOME", Path.home() / ".sluice")) / "kept.txt"
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_text("state")
    return str(kept)


@dsl.component(base_image="python:3.11")
def read_from_disk(path: str) -> str:
    from pathlib import Path

    return Path(path).read_text()


@dsl.pipeline
def leaky() -> str:
    return read_from_disk(path=keep_on_disk().output).output


def _run(tmp_path):
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(tmp_path / "root"),
        raise_on_error=True,
    )
    return leaky()


def test_a_path_another_task_wrote_is_gone_in_an_isolated_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SLUICE_HOME", str(tmp_path / "shared"))
    assert _run(tmp_path).output == "state"  # one disk for all: it works, wrongly
    with pod_tasks({}, root=tmp_path / "pods"), pytest.raises(RuntimeError, match="FAILURE"):
        _run(tmp_path)
    said = capsys.readouterr().out
    assert "FileNotFoundError" in said and "kept.txt" in said
