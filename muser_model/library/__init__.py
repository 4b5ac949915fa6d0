"""The local music library: a SQLite catalogue of tracks plus an hnswlib vector index."""
