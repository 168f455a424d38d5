"""KFP only: thin component wrappers, the DAGs, compilation, the local runner and the CLI."""
