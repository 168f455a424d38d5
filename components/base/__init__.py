"""The base every layer stands on: settings, the registry client, time splits and the model
contract. It imports nothing of sluice's above it (`make test` runs import-linter)."""
