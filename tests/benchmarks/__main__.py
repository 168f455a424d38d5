"""`make bench`: every benchmark, each printed as a table and written as JSON under
`.sluice/bench/`. The pipeline runs once; later benches use its training frame and model."""

import tempfile
from pathlib import Path

from components.base.locate import resolve_model
from components.base.settings import Settings
from tests.benchmarks import (
    bench_backtest,
    bench_batch,
    bench_drift,
    bench_drift_ingest,
    bench_horizon,
    bench_pipeline,
    bench_rollout,
    bench_serving,
    bench_training,
    bench_transformer,
    bench_tuning,
)

if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as home:
        summary = bench_pipeline.main(Path(home))
        frame = Path(summary["features"]["training_frame_path"])
        bench_training.main(frame, summary["features"]["features"])
        bench_tuning.main(frame, summary["features"]["features"])
        bench_backtest.main(frame, summary["features"]["features"])
        bench_horizon.main(Path(summary["validation"]["validated_path"]))
        model = Path(summary["training"]["model_path"])
        registered, _ = resolve_model(
            summary["registration"]["model_uri"],
            Settings(home=Path(home)).tracking_uri,
            Path(home) / "served",
        )
        bench_serving.main(registered, frame)
        bench_batch.main(model, frame)
        bench_transformer.main(model, Path(summary["validation"]["validated_path"]))
        bench_rollout.main(frame, summary["features"]["features"], model)
        bench_drift.main(frame, model)
        bench_drift_ingest.main(model, frame)
