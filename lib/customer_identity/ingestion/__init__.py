"""Ingestion: each source read under its contract into bronze Delta tables, rejected rows quarantined with a reason."""
