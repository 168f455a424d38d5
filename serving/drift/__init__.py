"""Drift detection: does a window of model inputs still look like the data the model was
trained on? It runs in its own environment (`.venv-drift`, `make venv-drift`) because
alibi-detect needs numpy < 2, which the main environment cannot share; so it imports only
the base, the contract and the use case's request-time feature names, never feast, torch,
mlflow or kserve (import-linter holds it to that)."""
