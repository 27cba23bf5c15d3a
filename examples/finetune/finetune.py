"""The training program of the ``gpu_finetune`` example: what runs inside the pod (image: ./Dockerfile).

A small, deterministic stand-in for fine-tuning: logistic regression by SGD on the prepared examples,
on the GPU when PyTorch sees one, else on the CPU in plain Python. It reads ``--data`` and writes the
model and its metrics under ``--out`` (any fsspec URL: s3://, gs://, a local path). Hyperparameters come
from the env (``EPOCHS``, ``LR``), which is part of the cache key.
"""

from __future__ import annotations

import argparse
import json
import math
import os

import fsspec


def device() -> str:
    try:
        import torch
    except ImportError:
        return "cpu (no torch)"
    return f"cuda ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "cpu"


def score(weights: list[float], x: list[float]) -> float:
    return weights[-1] + sum(w * v for w, v in zip(weights, x, strict=False))


def train(rows: list[dict], epochs: int, lr: float) -> tuple[list[float], float]:
    weights = [0.0] * (len(rows[0]["x"]) + 1)
    for _ in range(epochs):
        for row in rows:
            error = 1 / (1 + math.exp(-score(weights, row["x"]))) - row["y"]
            weights = [w - lr * error * v for w, v in zip(weights, [*row["x"], 1.0], strict=True)]
    correct = sum((score(weights, r["x"]) > 0) == bool(r["y"]) for r in rows)
    return weights, correct / len(rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    epochs, lr = int(os.environ.get("EPOCHS", "3")), float(os.environ.get("LR", "0.1"))
    print(f"fine-tuning on {device()}: epochs={epochs} lr={lr}", flush=True)
    with fsspec.open(args.data) as f:
        rows = json.load(f)
    weights, accuracy = train(rows, epochs, lr)
    out = args.out.rstrip("/")
    with fsspec.open(f"{out}/model.json", "w") as f:
        json.dump({"weights": weights}, f)
    with fsspec.open(f"{out}/metrics.json", "w") as f:
        json.dump({"accuracy": accuracy, "rows": len(rows), "epochs": epochs}, f)
    print(f"accuracy {accuracy:.3f} on {len(rows)} rows; wrote {out}", flush=True)


if __name__ == "__main__":
    main()
