"""``@cached(llm_cache=...)`` costs a step that does not set it nothing: the LLM package is never imported, by the
decoration or by a hit, in a fresh process (as a KFP task or a process-per-task worker runs one). A step that sets
it imports only the policy module, when it is decorated; its hit never enters the policy block."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PLAIN = '''
from lineage_core import cached


@cached
def plain(a: int) -> int:
    return a + 1
'''

SAMPLED = '''
from lineage_core import cached


@cached(llm_cache="sample")
def sampled(a: int) -> int:
    from lineage_core.llm.policy import LLMCachePolicy, effective_policy

    assert effective_policy(LLMCachePolicy.DETERMINISTIC) is LLMCachePolicy.SAMPLE  # the body runs under it
    return a + 2
'''

CALL = '''
import json, sys
import steps
from lineage_core import explain

value = steps.{fn}(40)
print(json.dumps({{"hit": explain(steps.{fn}).hit, "value": value,
                  "llm": sorted(m for m in sys.modules if m.startswith("lineage_core.llm"))}}))
'''


def _run(home: Path, fn: str) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENLINEAGE", "LINEAGE_"))}
    env.update(LINEAGE_HOME=str(home / "home"),
               PYTHONPATH=os.pathsep.join([str(home), str(Path(__file__).resolve().parents[1])]))
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(CALL.format(fn=fn))], cwd=home, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.parametrize(("fn", "value", "imported"), [
    ("plain", 41, []),
    ("sampled", 42, ["lineage_core.llm", "lineage_core.llm.policy"]),
])
def test_the_llm_package_is_imported_only_by_a_step_that_sets_llm_cache(tmp_path: Path, fn: str, value: int,
                                                                        imported: list[str]) -> None:
    (tmp_path / "steps.py").write_text(PLAIN if fn == "plain" else SAMPLED)  # one step per module: its own imports
    first, hit = _run(tmp_path, fn), _run(tmp_path, fn)
    assert (first["hit"], hit["hit"]) == (False, True) and first["value"] == hit["value"] == value
    assert hit["llm"] == imported
