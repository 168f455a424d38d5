"""Fixtures the unit tests share."""

from tests.kube_api_server import api_server  # noqa: F401  (a fixture)
