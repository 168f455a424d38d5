"""A model exported before graphs took raw features (category codes and a numeric matrix
in, `tests/fixtures/legacy_model`, a real export of that version) still scores: a champion
registered then must neither stop the pipeline's gate nor a server."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pandas as pd

from components.base.contract.artifact import ModelArtifact
from tests.model_fixtures import LEGACY


def test_a_legacy_graph_scores_raw_rows_as_its_own_inputs_say():
    metadata = json.loads((LEGACY / "metadata.json").read_text())
    frame = pd.DataFrame(metadata["reference_sample"]).head(20)
    frame.loc[0, "carrier"] = "ZZ"  # a carrier the model never saw
    artifact = ModelArtifact(LEGACY)
    assert artifact.legacy

    probability, unseen = artifact.predict_frame(frame)

    # the graph run by hand: codes from the vocabularies (value i is code i + 1; 0 unseen)
    vocabularies = {c: metadata["vocabularies"][c] for c in metadata["categorical"]}
    rows = frame[metadata["categorical"]].astype(str).to_dict("records")
    codes = np.array(
        [
            [vocab.index(r[c]) + 1 if r[c] in vocab else 0 for c, vocab in vocabularies.items()]
            for r in rows
        ],
        dtype=np.int64,
    )
    numeric = frame[metadata["numeric"]].to_numpy(dtype=np.float32, na_value=np.nan)
    session = ort.InferenceSession(str(LEGACY / "model.onnx"), providers=["CPUExecutionProvider"])
    (expected,) = session.run(None, {"categorical": codes, "numeric": numeric})
    np.testing.assert_array_equal(probability, expected)
    assert unseen == {"carrier": 1, "origin": 0, "dest": 0}
    assert ((probability > 0) & (probability < 1)).all()
