"""`make bench`: every benchmark, each printed as a table and written as JSON."""

import tempfile
from pathlib import Path

from tests.benchmarks import bench_pipeline, bench_training

if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as home:
        summary = bench_pipeline.main(Path(home))
        bench_training.main(
            Path(summary["features"]["training_frame_path"]), summary["features"]["features"]
        )
