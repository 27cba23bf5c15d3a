"""Dataset names per the OpenLineage naming spec: ``file`` + absolute path for local files,
``s3://{bucket}`` + key, ``gs://{bucket}`` + key, ``{scheme}://{authority}`` + path otherwise."""

from __future__ import annotations

import os
from urllib.parse import urlsplit


def dataset_name(location: str) -> tuple[str, str]:
    """(namespace, name) of a local path or a URL."""
    if "://" not in location:
        return "file", os.path.abspath(location)
    parts = urlsplit(location)
    scheme = {"gcs": "gs", "s3a": "s3"}.get(parts.scheme, parts.scheme)
    if scheme == "file":
        return ("file", parts.path) if not parts.netloc else (f"file://{parts.netloc}", parts.path)
    if scheme in ("s3", "gs"):
        return f"{scheme}://{parts.netloc}", parts.path.lstrip("/")
    return f"{scheme}://{parts.netloc}", parts.path or "/"
