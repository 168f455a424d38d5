"""The trigger's audit log in SQLite. It is also its state: the cooldown and the rate limit
are read from the runs it records as started, so a restart keeps both."""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    source TEXT NOT NULL,
    key TEXT NOT NULL,
    model_version TEXT NOT NULL,
    decision TEXT NOT NULL,
    run_id TEXT,
    detail TEXT NOT NULL
)
"""


@dataclass(frozen=True)
class Entry:
    """One request and what came of it: `decision` is started, cooldown, rate-limited,
    ignored or failed; `key` the Alertmanager group key or the drift call's model version."""

    time: datetime
    source: str
    key: str
    model_version: str
    decision: str
    run_id: str | None = None
    detail: str = ""

    def json_line(self) -> str:
        return json.dumps(asdict(self) | {"time": self.time.isoformat()}, sort_keys=True)


class AuditLog:
    """One SQLite file; one writer at a time within the process (the service decides and
    records under its own lock)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)
        self._lock = threading.Lock()

    def add(self, entry: Entry) -> None:
        row = asdict(entry) | {"time": entry.time.isoformat()}
        with self._lock:
            self._db.execute(
                "INSERT INTO audit (time, source, key, model_version, decision, run_id, detail)"
                " VALUES (:time, :source, :key, :model_version, :decision, :run_id, :detail)",
                row,
            )

    def started_since(self, since: datetime) -> list[datetime]:
        """When each run started at or after `since` was started, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT time FROM audit WHERE decision = 'started' ORDER BY id"
            ).fetchall()
        times = [datetime.fromisoformat(t) for (t,) in rows]
        return [t for t in times if t >= since]

    def entries(self, limit: int = 1000) -> list[Entry]:
        """The latest `limit` entries, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT time, source, key, model_version, decision, run_id, detail FROM audit"
                " ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [Entry(datetime.fromisoformat(r[0]), *r[1:]) for r in reversed(rows)]

    def close(self) -> None:
        self._db.close()
