from kfp import components

from pipelines.compile import COMPILED_DIR, compile_all, normalised


def test_committed_yaml_is_not_stale(tmp_path):
    for fresh in compile_all(tmp_path):
        committed = COMPILED_DIR / fresh.name
        assert committed.is_file(), f"{committed} missing: run `sluice compile`"
        assert normalised(fresh.read_text()) == normalised(committed.read_text()), (
            f"{committed} is stale: run `sluice compile`"
        )


def test_compiled_pipeline_loads_back_with_tasks_and_gate():
    pipeline = components.load_component_from_file(str(COMPILED_DIR / "training.yaml"))
    spec = pipeline.pipeline_spec
    tasks = spec.root.dag.tasks
    assert {"ingest", "validate", "condition-1"} <= set(tasks)
    gate = tasks["condition-1"].trigger_policy.condition
    assert "validate-Output" in gate and "== true" in gate
    inner = spec.components["comp-condition-1"].dag.tasks
    assert "featurize" in inner
    assert inner["featurize"].retry_policy.max_retry_count == 2
    assert tasks["ingest"].retry_policy.max_retry_count == 2
