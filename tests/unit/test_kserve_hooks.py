"""sluice replaces four module globals of KServe's, where KServe builds its servers from
them and offers no hook. Each replaced name must still exist, still be read by name where
KServe builds the server, and be sluice's after `install()`: a KServe release that moves one
fails here, not silently in production (pyproject bounds kserve to the tested minor)."""

import inspect

import kserve.protocol.grpc.server as kserve_grpc
import kserve.protocol.rest.server as kserve_rest
import kserve.protocol.rest.v2_endpoints as kserve_v2
import pytest

from serving import client_errors, grpc_messages, online_store, v2_rest

HOOKS = [
    # (module, global, the KServe function that reads it, sluice's installer, sluice's value)
    (
        kserve_rest,
        "invalid_input_handler",
        "RESTServer._add_exception_handlers",
        client_errors.install,
        client_errors.client_error_handler,
    ),
    (
        kserve_rest,
        "server_not_ready_handler",
        "RESTServer._add_exception_handlers",
        online_store.install,
        online_store.unavailable_handler,
    ),
    (
        kserve_grpc,
        "InferenceServicer",
        "GRPCServer.start",
        grpc_messages.install,
        grpc_messages.MessageInferenceServicer,
    ),
    (
        kserve_v2,
        "V2Endpoints",
        "register_v2_endpoints",
        v2_rest.install,
        v2_rest.SluiceV2Endpoints,
    ),
]


@pytest.mark.parametrize(("module", "name", "reader", "install", "ours"), HOOKS)
def test_each_replaced_kserve_global_is_still_read_by_name_and_is_ours(
    module, name, reader, install, ours
):
    assert hasattr(module, name), f"{module.__name__}.{name} is gone"
    function = module
    for part in reader.split("."):
        function = getattr(function, part)
    assert name in inspect.getsource(function), f"{reader} no longer reads {name}"
    original = getattr(module, name)
    try:
        install()
        assert getattr(module, name) is ours
    finally:
        setattr(module, name, original)


OVERRIDES = [
    # (KServe's class, the method sluice overrides, the KServe method that calls it, sluice's)
    ("Model", "_http_predict", "predict", "serving.transformer.FeastTransformer"),
]


@pytest.mark.parametrize(("owner", "method", "caller", "ours"), OVERRIDES)
def test_each_overridden_kserve_method_is_still_called_by_name(owner, method, caller, ours):
    """The transformer calls a remote predictor over REST through its own client by
    overriding `Model._http_predict`: if KServe's `predict` stopped calling it, httpx would
    come back unnoticed (and a predictor's 4xx would no longer be the caller's 400)."""
    import importlib

    import kserve

    kserve_class = getattr(kserve, owner)
    assert hasattr(kserve_class, method), f"kserve.{owner}.{method} is gone"
    source = inspect.getsource(getattr(kserve_class, caller))
    assert f"self.{method}(" in source, f"kserve.{owner}.{caller} no longer calls {method}"
    module, name = ours.rsplit(".", 1)
    assert method in vars(getattr(importlib.import_module(module), name))
