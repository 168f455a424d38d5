"""`make bench`: every benchmark, each printed as a table and written as JSON."""

from tests.benchmarks import bench_pipeline

if __name__ == "__main__":
    bench_pipeline.main()
