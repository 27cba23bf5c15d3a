"""Cold start: `import lineage_core`, `lineage --help`, and importing the peers (fresh processes)."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import emit, peer_python


def cold(cmd: list[str], n: int = 7) -> float:
    subprocess.run(cmd, capture_output=True, check=True)  # warm the page cache
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        samples.append(time.perf_counter() - t)
    return statistics.median(samples) * 1000


def main() -> None:
    py = sys.executable
    base = cold([py, "-c", "pass"])
    result: dict[str, object] = {
        "bench": "startup",
        "python_ms": base,
        "import_lineage_core_ms": cold([py, "-c", "import lineage_core"]) - base,
        "import_cached_ms": cold([py, "-c", "from lineage_core import cached"]) - base,
        "lineage_help_ms": cold([str(Path(py).with_name("lineage")), "--help"]),
    }
    for peer, mod in (("prefect", "prefect"), ("zenml", "zenml")):
        ppy = peer_python(peer)
        if ppy:
            result[f"import_{peer}_ms"] = cold([str(ppy), "-c", f"import {mod}"], n=3) - base
    emit(result)


if __name__ == "__main__":
    main()
