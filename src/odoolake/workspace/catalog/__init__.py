"""The workspace catalog: Unity Catalog's shape over catalog.db, read by the engine and served to clients."""
