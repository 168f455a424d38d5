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
        "SluiceOnlineStoreDown": "critical",
        "SluiceHighLatency": "warning",
        "SluiceDriftDetected": "warning",
        "SluiceNoPredictions": "warning",
        "SluiceModelRolledOut": "info",
        "SluiceRetrainTriggered": "info",
    }


def test_the_dashboard_queries_parse_and_cover_every_panel_asked_for(promtool, tmp_path):
    """Each panel's PromQL, with Grafana's variables filled in, as recording rules that
    promtool parses."""
    import json

    (config,) = [c for c in by_kind(render(), "ConfigMap") if "sluice.json" in c.get("data", {})]
    dashboard = json.loads(config["data"]["sluice.json"])
    grafana = {"$__rate_interval": "1m", "$namespace": "sluice", "${datasource}": "prometheus"}
    rules = []
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            expr = target["expr"]
            for variable, value in grafana.items():
                expr = expr.replace(variable, value)
            rules.append({"record": f"panel:{panel['id']}:{target['refId']}", "expr": expr})
    (tmp_path / "dashboard.yaml").write_text(
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]})
    )
    checked = subprocess.run(
        [promtool, "check", "rules", "dashboard.yaml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    titles = " | ".join(p["title"].lower() for p in dashboard["panels"])
    for asked in ("throughput by model version", "latency", "error rate", "score distribution"):
        assert asked in titles
    assert (
        "drift: p-value" in titles and "drift: psi" in titles and "canary traffic split" in titles
    )
    assert config["metadata"]["labels"]["grafana_dashboard"] == "1"
