"""Files in a local directory or an S3 bucket behind one interface, pyarrow's filesystems:
a store is a local path by default and an `s3://` URI on a cluster, and the steps do not
tell them apart.

Credentials never pass through here: pyarrow reads `AWS_ACCESS_KEY_ID` and
`AWS_SECRET_ACCESS_KEY` (the `sluice-s3` Secret on a cluster) from the environment itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit

from components.base.services import ServiceUnavailable

S3_HINT = "credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"


def is_remote(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")


@dataclass(frozen=True)
class Location:
    """A directory: a local path, or `s3://bucket/prefix` on `s3_endpoint` (an
    S3-compatible server; None is AWS)."""

    uri: str
    s3_endpoint: str | None = None
    s3_region: str = "us-east-1"

    def __post_init__(self) -> None:
        scheme = urlsplit(self.uri).scheme if is_remote(self.uri) else ""
        if scheme not in ("", "s3"):
            raise ValueError(f"{self.uri!r}: a store is a local path or an s3:// URI")

    @classmethod
    def of(cls, where: Location | str | Path) -> Location:
        return where if isinstance(where, Location) else cls(str(where))

    @property
    def remote(self) -> bool:
        return is_remote(self.uri)

    def child(self, *parts: str) -> Location:
        return Location("/".join([self.uri.rstrip("/"), *parts]), self.s3_endpoint, self.s3_region)

    @cached_property
    def _fs(self):
        from pyarrow import fs

        if not self.remote:
            return fs.LocalFileSystem(), str(Path(self.uri.removeprefix("file://")).resolve())
        parts = urlsplit(self.uri)
        options: dict = {
            "region": self.s3_region,
            "connect_timeout": 5,
            "request_timeout": 30,
            "retry_strategy": fs.AwsDefaultS3RetryStrategy(max_attempts=4),
        }
        if self.s3_endpoint:
            endpoint = urlsplit(self.s3_endpoint)
            options |= {"endpoint_override": endpoint.netloc, "scheme": endpoint.scheme}
            options |= {"force_virtual_addressing": False}
        return fs.S3FileSystem(**options), f"{parts.netloc}{parts.path}".rstrip("/")

    @property
    def filesystem(self):
        """The pyarrow filesystem (for Ray Train's `storage_filesystem`, say)."""
        return self._fs[0]

    @property
    def path(self) -> str:
        """The path within `filesystem`: a bucket-prefixed key for S3."""
        return self._fs[1]

    def _unavailable(self, exc: Exception) -> ServiceUnavailable:
        where = self.s3_endpoint or "AWS S3"
        return ServiceUnavailable("object store", where, f"{self.uri}: {exc}", hint=S3_HINT)

    def _call(self, action, *args):
        try:
            return action(*args)
        except FileNotFoundError:
            raise
        except OSError as exc:
            if not self.remote:
                raise
            raise self._unavailable(exc) from None

    def exists(self, name: str) -> bool:
        from pyarrow import fs

        info = self._call(self.filesystem.get_file_info, f"{self.path}/{name}")
        return info.type != fs.FileType.NotFound

    def upload(self, local_dir: Path, names: list[str]) -> None:
        """Copy these files of `local_dir` here."""
        for name in names:
            self._copy(str(Path(local_dir) / name), f"{self.path}/{name}", upload=True)

    def download(self, local_dir: Path) -> list[str]:
        """Copy every file here into `local_dir`; returns their names."""
        from pyarrow import fs

        selector = fs.FileSelector(self.path, recursive=False)
        infos = self._call(self.filesystem.get_file_info, selector)
        names = [i.base_name for i in infos if i.type == fs.FileType.File]
        for name in names:
            self._copy(f"{self.path}/{name}", str(Path(local_dir) / name), upload=False)
        return names

    def _copy(self, source: str, target: str, upload: bool) -> None:
        """One file between here and the local disk: a hard link where both are local
        (snapshots are written once and never changed), else a copy."""
        from pyarrow import fs

        if not upload or not self.remote:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        if not self.remote:
            Path(target).unlink(missing_ok=True)
            try:
                os.link(source, target)
                return
            except OSError:  # another filesystem
                pass
        local, store = fs.LocalFileSystem(), self.filesystem
        self._call(fs.copy_files, source, target, *((local, store) if upload else (store, local)))
