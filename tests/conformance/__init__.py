"""The same corpus sent to `lineage serve` and to a real Marquez 0.51.1, and what both answer compared."""
