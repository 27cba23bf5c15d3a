"""Real services the tests start for themselves (no mocks): PostgreSQL, an S3 server, a GCS emulator."""
