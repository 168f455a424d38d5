"""DDP workers for a pod: one per GPU, never more workers than GPUs."""

import pytest

from components.train import CPU_WORKERS, TrainingConfigError, worker_count


@pytest.mark.parametrize(
    ("num_workers", "gpus", "workers"),
    [(0, 0, CPU_WORKERS), (3, 0, 3), (0, 1, 1), (0, 4, 4), (4, 4, 4)],
)
def test_workers(num_workers, gpus, workers):
    assert worker_count(num_workers, gpus) == workers


@pytest.mark.parametrize(("num_workers", "gpus"), [(2, 1), (1, 2), (-1, 0), (0, -1)])
def test_impossible_pairs_are_refused_naming_both(num_workers, gpus):
    with pytest.raises(TrainingConfigError) as error:
        worker_count(num_workers, gpus)
    assert f"gpus={gpus}" in str(error.value) and f"num_workers={num_workers}" in str(error.value)
