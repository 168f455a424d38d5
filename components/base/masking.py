"""Credentials never appear in an error or a log line: a URI is shown with its password
masked, and text that may quote it (an upstream error) has the password taken out.

Two forms carry passwords: URLs (`postgresql://user:secret@host/db`) and Redis
connection strings as Feast writes them (`host:6379,password=secret,ssl=true`)."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit, urlunsplit

MASK = "***"
_KEY_VALUE = re.compile(r"(?<=[,?&;])(password|passwd|pwd)=([^,&;]*)", re.IGNORECASE)


def _url_password(uri: str) -> str | None:
    try:
        return urlsplit(uri).password if "://" in uri else None
    except ValueError:
        return None


def masked(uri: str) -> str:
    """`http://user:secret@host:5000/x` as `http://user:***@host:5000/x`, and
    `host:6379,password=secret` as `host:6379,password=***`."""
    uri = _KEY_VALUE.sub(lambda m: f"{m.group(1)}={MASK}", uri)
    if not _url_password(uri):
        return uri
    parts = urlsplit(uri)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:{MASK}@{host}"))


def scrubbed(text: str, uri: str) -> str:
    """`text` with the URI's passwords, wherever they appear, masked."""
    secrets = [m.group(2) for m in _KEY_VALUE.finditer(uri)]
    secrets.append(_url_password(uri) or "")
    secrets += [unquote(s) for s in secrets]  # an error may quote it decoded
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text
