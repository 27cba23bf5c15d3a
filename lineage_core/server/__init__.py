"""The lineage HTTP server (extra ``server``): OpenLineage ingest with Marquez's contract, health."""
