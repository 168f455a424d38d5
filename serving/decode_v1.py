"""KServe v1: `{"instances": [{feature: value, ...}, ...]}` into the model's inputs."""

from __future__ import annotations

from serving.request_errors import RequestError
from serving.request_rules import ModelInputs, RequestRules, check_names


def decode_v1(rules: RequestRules, payload) -> ModelInputs:
    """`{"instances": [{feature: value, ...}, ...]}`: every row an object of every feature."""
    if not isinstance(payload, dict) or "instances" not in payload:
        raise RequestError("malformed", 'body: expected a JSON object with "instances"')
    instances = payload["instances"]
    if not isinstance(instances, list):
        raise RequestError("shape", '"instances": expected a list of feature objects')
    rules.check_rows(len(instances), '"instances"')
    for i, instance in enumerate(instances):
        if not isinstance(instance, dict):
            raise RequestError("shape", f"instances[{i}]: expected an object of features")
        if len(instance) != len(rules.layout.features) or instance.keys() - set(
            rules.layout.features
        ):
            check_names(list(instance), rules.layout.features, f"instances[{i}]")
    columns = {name: [item[name] for item in instances] for name in rules.layout.features}
    for name in rules.layout.categorical:
        for row, value in enumerate(columns[name]):
            if not isinstance(value, str):
                raise RequestError(
                    "datatype", f"instances[{row}].{name}: expected a string, got {value!r}"
                )
    for name in rules.layout.numeric:
        for row, value in enumerate(columns[name]):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise RequestError(
                    "datatype",
                    f"instances[{row}].{name}: expected a number or null, got {value!r}",
                )
    return rules.inputs(columns, rules.numeric_columns(columns, "instances[].{}".format))
