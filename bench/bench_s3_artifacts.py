"""Artifact put/get throughput on a local S3 server (moto) — ours vs a plain s3fs copy of the bytes.

Ours: ArtifactStore.publish (blake3 of the file, one PUT with the hash as object metadata) and
read_verified (GET + blake3 check). Plain: s3fs put_file / cat_file of the same file, nothing else.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))
from common import emit  # noqa: E402

from tests.services.objectstores import S3Server  # noqa: E402

SIZES = [(64 << 20, 7), (4 << 20, 15)]  # (bytes, repetitions)


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def interleaved(a, b, n: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Best of n for each, alternating A and B so drift in the server's speed hits both alike."""
    ta, tb = [], []
    for _ in range(n):
        ta.append(timed(a))
        tb.append(timed(b))
    return min(ta), min(tb)


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-s3-"))
    server = S3Server(work / "moto.log")
    os.environ.update(server.env())
    try:
        import fsspec

        from lineage_core.store import ArtifactStore

        fs = fsspec.filesystem("s3")
        fs.mkdir("bench-ours")
        fs.mkdir("bench-plain")
        store = ArtifactStore("s3://bench-ours/lineage")
        result: dict[str, object] = {"bench": "s3_artifacts"}
        for size, reps in SIZES:
            src = work / f"blob-{size}"
            src.write_bytes(os.urandom(size))

            def ours_put(src: Path = src) -> str:
                tmp = work / "tmp"
                os.link(src, tmp)  # publish consumes its temp file: give it a second name for the same bytes
                return store.publish(str(tmp)).hash

            digest = ours_put()
            put_ours, put_plain = interleaved(ours_put, lambda src=src: fs.put_file(str(src), "bench-plain/blob"), reps)
            get_ours, get_plain = interleaved(lambda digest=digest: store.read_verified(digest),
                                              lambda: fs.cat_file("bench-plain/blob"), reps)
            mb = size / 2**20
            result[f"{int(mb)}MiB"] = {
                "put_ours_mb_s": mb / put_ours, "put_plain_mb_s": mb / put_plain, "put_ratio": put_plain / put_ours,
                "get_ours_mb_s": mb / get_ours, "get_plain_mb_s": mb / get_plain, "get_ratio": get_plain / get_ours,
            }
        emit(result)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
