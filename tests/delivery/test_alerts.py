"""The chart's alerting rules, checked and unit-tested by promtool (Debian `prometheus`):
for every alert a series that fires it and one that does not (alerts.promtool.yaml)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.delivery.chart import ROOT, by_kind, render
from tests.services import missing

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def rules() -> dict:
    (rule,) = by_kind(render(), "PrometheusRule")
    return rule["spec"]


@pytest.fixture(scope="module")
def promtool() -> str:
    binary = shutil.which("promtool")
    if binary is None:
        missing("promtool not installed (CI installs the Debian package prometheus)")
    return binary


def test_promtool_checks_and_unit_tests_every_alert(rules, promtool, tmp_path):
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules))
    shutil.copy(HERE / "alerts.promtool.yaml", tmp_path)
    checked = subprocess.run(
        [promtool, "check", "rules", "rules.yaml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(
        [promtool, "test", "rules", "alerts.promtool.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    spec = yaml.safe_load((HERE / "alerts.promtool.yaml").read_text())
    covered = {t["alertname"] for test in spec["tests"] for t in test["alert_rule_test"]}
    alerts = {r["alert"] for group in rules["groups"] for r in group["rules"]}
    assert covered == alerts
    for alert in alerts:  # each with a case that fires and one that stays quiet
        cases = [
            t for test in spec["tests"] for t in test["alert_rule_test"] if t["alertname"] == alert
        ]
        assert any(c["exp_alerts"] for c in cases) and any(not c["exp_alerts"] for c in cases)


def test_every_alert_has_a_severity_a_summary_a_description_and_a_runbook(rules):
    severities = {}
    for group in rules["groups"]:
        for rule in group["rules"]:
            severities[rule["alert"]] = rule["labels"]["severity"]
            annotations = rule["annotations"]
            assert annotations["summary"] and annotations["description"], rule["alert"]
            runbook = annotations["runbook_url"].rsplit("/docs/", 1)[1]
            assert (ROOT / "docs" / runbook).is_file(), runbook
    assert severities == {
        "SluiceModelNotReady": "critical",
        "SluiceHighErrorRate": "critical",
        "SluiceHighLatency": "warning",
        "SluiceDriftDetected": "warning",
        "SluiceNoPredictions": "warning",
        "SluiceModelRolledOut": "info",
        "SluiceRetrainTriggered": "info",
    }
