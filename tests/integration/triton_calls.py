"""`python -m tests.integration.triton_calls`: calls through NVIDIA's `tritonclient`, run as
their own process, because tritonclient and KServe each register the OIP's protobuf
package (`inference`) in the default descriptor pool and cannot be imported together.

Reads {"http": host:port, "grpc": host:port, "model": name, "rows": {feature: values},
"categorical": [...]} on stdin; prints what each call got back as JSON."""

import json
import sys

import numpy as np
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http


def _inputs(module, rows: dict, categorical: list[str], binary: bool = True) -> list:
    inputs = []
    for name, column in rows.items():
        is_text = name in categorical
        values = np.array(column, dtype=object if is_text else np.float32)
        item = module.InferInput(name, [len(values)], "BYTES" if is_text else "FP32")
        if module is triton_http:
            item.set_data_from_numpy(values, binary_data=binary)
        else:
            item.set_data_from_numpy(values)
        inputs.append(item)
    return inputs


def _outputs(result) -> dict:
    probability, delayed = result.as_numpy("probability"), result.as_numpy("delayed")
    if isinstance(result, triton_http.InferResult):  # binary outputs say their size
        sizes = [(result.get_output(n).get("parameters") or {}) for n in ("probability", "delayed")]
        binary = all("binary_data_size" in p for p in sizes)
    else:
        binary = len(result.get_response().raw_output_contents) == 2
    return {
        "binary": binary,
        "probability": probability.tolist(),
        "probability_dtype": str(probability.dtype),
        "delayed": delayed.tolist(),
        "delayed_dtype": str(delayed.dtype),
    }


def main() -> None:
    spec = json.load(sys.stdin)
    model, rows, categorical = spec["model"], spec["rows"], spec["categorical"]
    http = triton_http.InferenceServerClient(spec["http"])
    grpc = triton_grpc.InferenceServerClient(spec["grpc"])
    out = {}
    for binary in (True, False):
        requested = [
            triton_http.InferRequestedOutput(name, binary_data=binary)
            for name in ("probability", "delayed")
        ]
        result = http.infer(
            model, _inputs(triton_http, rows, categorical, binary), outputs=requested
        )
        out[f"http_{'binary' if binary else 'json'}"] = _outputs(result)
    result = grpc.infer(model, _inputs(triton_grpc, rows, categorical))
    response = result.get_response()
    out["grpc"] = {
        **_outputs(result),
        "raw_outputs": len(response.raw_output_contents),
        "model_version": response.model_version,
    }
    out["metadata_http"] = http.get_model_metadata(model)
    out["metadata_grpc"] = grpc.get_model_metadata(model, as_json=True)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
