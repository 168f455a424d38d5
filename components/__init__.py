"""The pipeline steps as plain Python: each step package exposes one `run(...)`."""
