"""The retrain trigger (`sluice trigger serve`): an HTTP service that turns a drift report,
from the drift service or from Alertmanager, into at most one retraining run per drift
episode, on Kubeflow or locally, and keeps an audit log of what triggered what."""
