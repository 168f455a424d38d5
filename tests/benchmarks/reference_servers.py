"""The two reference servers the sluice predictor is measured against, on the same artifact.

- `textbook`: a KServe custom predictor as the KServe docs write one: per-request
  conversion through pandas, a Python loop over the text, a blocking model call inside
  `predict`, no batching. (The graph looks the categories up itself.)
- `ceiling`: a KServe model that answers a constant: the most the server stack can do.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd
from kserve import Model, ModelServer, model_server
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse

from components.base.contract.names import METADATA_FILE


class TextbookPredictor(Model):
    def __init__(self, name: str, model_dir: str):
        super().__init__(name)
        self.model_dir = Path(model_dir)

    def load(self) -> bool:
        self.metadata = json.loads((self.model_dir / METADATA_FILE).read_text())
        self.session = ort.InferenceSession(str(self.model_dir / "model.onnx"))
        self.ready = True
        return True

    def predict(self, payload: InferRequest, headers=None) -> InferResponse:
        frame = pd.DataFrame({i.name: i.as_numpy().reshape(-1) for i in payload.inputs})
        for name in self.metadata["categorical"]:
            frame[name] = frame[name].map(lambda v: v.decode() if isinstance(v, bytes) else v)
        feed = {name: frame[name].to_numpy(dtype=object) for name in self.metadata["categorical"]}
        for name in self.metadata["numeric"]:
            feed[name] = frame[name].to_numpy(dtype=np.float32)
        result = self.session.run(["probability"], feed)[0]
        return InferResponse(
            response_id=payload.id or "0",
            model_name=self.name,
            infer_outputs=[InferOutput("probability", [len(result)], "FP32", result.tolist())],
            from_grpc=payload.from_grpc,
        )


class ConstantModel(Model):
    def load(self) -> bool:
        self.ready = True
        return True

    async def predict(self, payload: InferRequest, headers=None) -> InferResponse:
        return InferResponse(
            response_id=payload.id or "0",
            model_name=self.name,
            infer_outputs=[InferOutput("probability", [1], "FP32", [0.25])],
            from_grpc=payload.from_grpc,
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(parents=[model_server.parser], conflict_handler="resolve")
    parser.add_argument("--kind", choices=["textbook", "ceiling"], required=True)
    parser.add_argument("--model_uri", default="")
    args = parser.parse_args()
    model = (
        TextbookPredictor(args.model_name, args.model_uri)
        if args.kind == "textbook"
        else ConstantModel(args.model_name)
    )
    model.load()
    ModelServer(http_port=args.http_port, grpc_port=args.grpc_port, workers=1).start([model])
