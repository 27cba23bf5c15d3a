"""A worker process: wait for the start signal, then call steps; prints one JSON line."""

import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sf_steps

from lineage_core import explain
from lineage_core.errors import SingleFlightTimeout


def wait_for_start() -> None:
    start = float(os.environ.get("SF_START_AT", "0"))
    while time.time() < start:
        time.sleep(0.005)


def main() -> None:
    mode = sys.argv[1]
    wait_for_start()
    if mode == "slow":
        try:
            os.environ["SF_SLEEP"] = sys.argv[3]
            value = sf_steps.slow(int(sys.argv[2]))
        except SingleFlightTimeout as e:
            print(json.dumps({"timeout": str(e)}))
            return
        out = explain(sf_steps.slow)
        print(json.dumps({"value": value, "hit": out.hit, "reasons": out.reasons}))
    elif mode == "mixed":
        rng = random.Random(int(sys.argv[2]))
        n, distinct = int(sys.argv[3]), int(sys.argv[4])
        steps = [sf_steps.square, sf_steps.label]
        calls = [(rng.choice(steps), rng.randrange(distinct)) for _ in range(n)]
        wrong = 0
        for step, x in calls:
            value = step(x)
            expected = x * x if step is sf_steps.square else f"item-{x}"
            wrong += value != expected
        print(json.dumps({"calls": n, "wrong": wrong}))


if __name__ == "__main__":
    main()
