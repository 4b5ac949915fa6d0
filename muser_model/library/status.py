"""What `muser status` reports."""
from __future__ import annotations

from typing import Any

from muser_model.library.store import Library


def library_status(lib: Library) -> dict[str, Any]:
    cat = lib.catalogue
    counts = cat.counts()
    index_file = lib.index_file()
    return {
        "library": lib.name,
        "location": str(lib.root),
        "tracks": counts.get("ok", 0),
        "failed": counts.get("failed", 0),
        "silent": counts.get("silent", 0),
        "hours": round(cat.total_duration() / 3600, 2),
        "model_hash": lib.model_hash,
        "stale_tracks": cat.stale_count(lib.model_hash),
        "index_file": str(index_file) if index_file else "",
        "index_bytes": index_file.stat().st_size if index_file else 0,
        "index_pending_changes": len(cat.changes_since(lib.index_generation)),
    }
