"""What a model version's live inputs are compared with: the reference sample and the
validation scores that training wrote into its `metadata.json`.

A version's metadata comes from a models directory (`<model>-<version>/`, where a local
server caches what it serves) or from an MLflow tracking server over HTTP
(`/model-versions/get-artifact`: the `metadata.json` that registration stamps at the root
of the version's artifacts), never through the mlflow package, which this environment does
not have. Each version is read once; a failure is retried after `retry_s`."""

from __future__ import annotations

import base64
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
import pandas as pd

from components.base.contract.metadata import ModelMetadata
from components.base.contract.names import METADATA_FILE, version_directory
from serving.drift.inputs import Features


class ReferenceUnavailable(RuntimeError):
    """No reference for a version; the message says where it was looked for."""


@dataclass(frozen=True)
class Reference:
    features: Features
    sample: pd.DataFrame
    scores: np.ndarray
    """Empty for an artifact from before training wrote them."""
    source: str


class References:
    def __init__(
        self,
        models_dir: Path | None = None,
        mlflow_url: str | None = None,
        timeout_s: float = 10.0,
        retry_s: float = 60.0,
    ):
        if models_dir is None and mlflow_url is None:
            raise ValueError("give a models directory or an MLflow tracking server URL")
        self.models_dir = models_dir
        self.mlflow_url = mlflow_url.rstrip("/") if mlflow_url else None
        self.timeout_s = timeout_s
        self.retry_s = retry_s
        self._found: dict[tuple[str, str], Reference] = {}
        self._failed: dict[tuple[str, str], tuple[float, str]] = {}
        self._lock = threading.Lock()

    def get(self, model_name: str, version: str) -> Reference:
        key = (model_name, version)
        with self._lock:
            if key in self._found:
                return self._found[key]
            failed = self._failed.get(key)
            if failed and time.monotonic() - failed[0] < self.retry_s:
                raise ReferenceUnavailable(failed[1])
        try:
            metadata, source = self._metadata(model_name, version)
            reference = _reference(metadata, source)
        except ReferenceUnavailable as exc:
            with self._lock:
                self._failed[key] = (time.monotonic(), str(exc))
            raise
        with self._lock:
            self._found[key] = reference
            self._failed.pop(key, None)
        return reference

    def _metadata(self, model_name: str, version: str) -> tuple[ModelMetadata, str]:
        tried = []
        if self.models_dir is not None:
            directory = self.models_dir / version_directory(model_name, version)
            try:
                return ModelMetadata.read(directory), str(directory)
            except FileNotFoundError:
                tried.append(f"no {METADATA_FILE} in {directory}")
            except ValueError as exc:
                raise ReferenceUnavailable(f"{directory}: {exc}") from None
        if self.mlflow_url is not None:
            return self._from_mlflow(model_name, version), f"MLflow {model_name} v{version}"
        raise ReferenceUnavailable(f"{model_name} version {version}: {'; '.join(tried)}")

    def _from_mlflow(self, model_name: str, version: str) -> ModelMetadata:
        query = urllib.parse.urlencode(
            {"name": model_name, "version": version, "path": METADATA_FILE}
        )
        request = urllib.request.Request(f"{self.mlflow_url}/model-versions/get-artifact?{query}")
        user, password = (os.environ.get(f"MLFLOW_TRACKING_{k}") for k in ("USERNAME", "PASSWORD"))
        if user and password:  # MLflow's basic auth; the password never appears in errors
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        where = f"{model_name} version {version} from the MLflow server"
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:
                return ModelMetadata.from_dict(orjson.loads(answer.read()))
        except urllib.error.HTTPError as exc:
            raise ReferenceUnavailable(f"{where}: HTTP {exc.code}") from None
        except (OSError, orjson.JSONDecodeError, ValueError, TypeError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ReferenceUnavailable(f"{where}: {reason}") from None


def _reference(metadata: ModelMetadata, source: str) -> Reference:
    if not metadata.reference_sample:
        raise ReferenceUnavailable(f"{source}: {METADATA_FILE} has no reference_sample")
    return Reference(
        Features.from_metadata(metadata),
        pd.DataFrame(metadata.reference_sample),
        np.asarray(metadata.score_reference, dtype=float),
        source,
    )
