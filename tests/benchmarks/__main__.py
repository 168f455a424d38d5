"""`make bench`: every benchmark, each printed as a table and written as JSON under
`.sluice/bench/`. The pipeline runs once; later benches use its training frame and model."""

import tempfile
from pathlib import Path

from tests.benchmarks import (
    bench_batch,
    bench_drift,
    bench_drift_ingest,
    bench_pipeline,
    bench_rollout,
    bench_serving,
    bench_training,
    bench_transformer,
)

if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as home:
        summary = bench_pipeline.main(Path(home))
        frame = Path(summary["features"]["training_frame_path"])
        bench_training.main(frame, summary["features"]["features"])
        model = Path(summary["training"]["model_path"])
        bench_serving.main(model, frame)
        bench_batch.main(model, frame)
        bench_transformer.main(model, Path(summary["validation"]["validated_path"]))
        bench_rollout.main(frame, summary["features"]["features"], model)
        bench_drift.main(frame, model)
        bench_drift_ingest.main(model, frame)
