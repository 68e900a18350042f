"""Data layer: schemas, validation, ingest of real formats, and the store."""
