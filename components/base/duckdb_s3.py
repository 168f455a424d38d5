"""DuckDB reading `s3://`: Feast's DuckDB offline store (through ibis) reads the feature
views' Parquet with DuckDB's httpfs extension.

DuckDB cannot download extensions here or in an offline pod, so httpfs comes from the
`duckdb-extension-httpfs` wheel (pinned to DuckDB's exact version) and is installed into
the connection's extension directory from that file. The S3 secret is built from the
environment's AWS variables and is never printed."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit


def httpfs_file() -> Path:
    import duckdb
    import duckdb_extension_httpfs

    root = Path(duckdb_extension_httpfs.__file__).parent
    found = sorted(root.rglob(f"v{duckdb.__version__}/httpfs.duckdb_extension"))
    if not found:
        raise RuntimeError(
            f"duckdb-extension-httpfs has no httpfs for DuckDB {duckdb.__version__}: "
            "pin both to the same version"
        )
    return found[0]


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


CREDENTIALS = {
    "KEY_ID": "AWS_ACCESS_KEY_ID",
    "SECRET": "AWS_SECRET_ACCESS_KEY",
    "SESSION_TOKEN": "AWS_SESSION_TOKEN",
}


def enable_s3(connection, s3_endpoint: str | None, region: str) -> None:
    """Load httpfs into `connection` (a DuckDB connection) and give it an S3 secret.

    The extension is installed from the wheel's file into a directory under TMPDIR, the
    one place a pod with a read-only root filesystem can write; ibis then finds it
    installed by name and does not try to download it."""
    directory = Path(tempfile.gettempdir()) / "duckdb_extensions"
    connection.execute(f"SET extension_directory = {_quoted(str(directory))}")
    connection.execute(f"INSTALL {_quoted(str(httpfs_file()))}")
    connection.execute("LOAD httpfs")
    options = {"TYPE": "s3", "REGION": region}
    for option, variable in CREDENTIALS.items():
        if os.environ.get(variable):
            options[option] = os.environ[variable]
    if s3_endpoint:
        endpoint = urlsplit(s3_endpoint)
        options |= {
            "ENDPOINT": endpoint.netloc,
            "URL_STYLE": "path",
            "USE_SSL": "true" if endpoint.scheme == "https" else "false",
        }
    body = ", ".join(
        f"{k} {v}" if k in ("TYPE", "USE_SSL") else f"{k} {_quoted(v)}" for k, v in options.items()
    )
    connection.execute(f"CREATE OR REPLACE SECRET sluice_s3 ({body})")
