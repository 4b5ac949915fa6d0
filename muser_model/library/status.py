"""What `muser status` reports."""
from __future__ import annotations

from typing import Any

from muser_model.library.store import Library


def library_status(lib: Library) -> dict[str, Any]:
    cat = lib.catalogue
    counts = cat.counts()
    generation = int(cat.get_meta("index_generation") or -1)
    index_file = lib.root / f"index-{generation}.hnsw"
    stale = cat.db.execute("SELECT COUNT(*) FROM tracks WHERE status='ok' AND model_hash!=?",
                           (lib.model_hash,)).fetchone()[0]
    seconds = cat.db.execute("SELECT COALESCE(SUM(duration), 0) FROM tracks WHERE status='ok'").fetchone()[0]
    return {
        "library": lib.name,
        "location": str(lib.root),
        "tracks": counts.get("ok", 0),
        "failed": counts.get("failed", 0),
        "hours": round(seconds / 3600, 2),
        "model_hash": lib.model_hash,
        "stale_tracks": stale,
        "index_file": str(index_file) if index_file.exists() else "",
        "index_bytes": index_file.stat().st_size if index_file.exists() else 0,
        "index_pending_changes": len(cat.changes_since(generation)),
    }
