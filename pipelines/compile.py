"""Compile every pipeline to KFP v2 YAML."""

from __future__ import annotations

from pathlib import Path

import yaml
from kfp import compiler

from pipelines.training import PIPELINES

COMPILED_DIR = Path(__file__).resolve().parent / "compiled"


def compile_all(output_dir: Path = COMPILED_DIR) -> list[Path]:
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, pipeline in PIPELINES.items():
        path = output_dir / f"{name}.yaml"
        compiler.Compiler().compile(pipeline_func=pipeline, package_path=str(path))
        written.append(path)
    return written


def images(path: Path) -> set[str]:
    """The images a compiled pipeline's tasks run."""
    spec = next(yaml.safe_load_all(Path(path).read_text()))
    return {e["container"]["image"] for e in spec["deploymentSpec"]["executors"].values()}


def normalised(text: str) -> str:
    """YAML without the lines that change with the installed kfp version."""
    return "\n".join(
        line for line in text.splitlines() if "sdkVersion" not in line and "kfp==" not in line
    )
