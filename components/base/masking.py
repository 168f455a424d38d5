"""Credentials never appear in an error or a log line: a URI is shown with its password
masked, and text that may quote it (an upstream error) has the password taken out."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

MASK = "***"


def masked(uri: str) -> str:
    """`http://user:secret@host:5000/x` as `http://user:***@host:5000/x`."""
    parts = urlsplit(uri)
    if not parts.password:
        return uri
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:{MASK}@{host}"))


def scrubbed(text: str, uri: str) -> str:
    """`text` with the URI's password, wherever it appears, masked."""
    password = urlsplit(uri).password
    return text.replace(password, MASK) if password else text
