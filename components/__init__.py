"""The steps as plain Python (each step package exposes one `run(...)`), on the use case
(`flights/`) and the base (`base/`: settings, the registry client, the model contract)."""
