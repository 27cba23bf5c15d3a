"""KFP-style components for a (tiny, CPU-runnable) fine-tuning job, cached by lineage-core: the functions
write KFP output artifacts (Dataset, Model, Metrics) and return a KFP parameter. A hit writes the cached files
and metadata into the task's outputs and the function does not run. No pipeline is defined here: inside a
task, KFP's runtime ``kfp.dsl`` has none."""

from kfp.dsl import Dataset, Input, Metrics, Model, Output

from kfp_components.pipelines import IMAGE
from lineage_kfp import cached_component, gpu_training_component


@cached_component(name="finetune.make_dataset", base_image=IMAGE)
def make_dataset(dataset: Output[Dataset], rows: int = 256, seed: int = 0) -> int:
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 4))
    y = x @ np.array([1.5, -2.0, 0.5, 3.0]) + 0.1 * rng.normal(size=rows)
    np.savetxt(dataset.path, np.column_stack([x, y]), delimiter=",", fmt="%.8f")
    dataset.metadata["rows"] = rows
    return rows


# Secret *names* (Kubernetes objects holding the store URL and the server token), never their values.
@gpu_training_component(name="finetune.train", base_image=IMAGE, gpu_type="NVIDIA-A100-SXM4-80GB",
                        store_secret="lineage-store", token_secret="lineage-token",  # noqa: S106
                        pvcs={"model-cache": "/models"})
def finetune(dataset: Input[Dataset], model: Output[Model], metrics: Output[Metrics], epochs: int = 200,
             lr: float = 0.05) -> float:
    """Gradient descent on a linear model (the GPU is declared for the cluster; this runs anywhere)."""
    import json
    import os

    import numpy as np

    data = np.loadtxt(dataset.path, delimiter=",")
    x, y = data[:, :-1], data[:, -1]
    w = np.zeros(x.shape[1])
    for _ in range(epochs):
        w -= lr * 2 * x.T @ (x @ w - y) / len(y)
    loss = float(np.mean((x @ w - y) ** 2))
    os.makedirs(model.path, exist_ok=True)
    np.save(os.path.join(model.path, "weights.npy"), w)
    with open(os.path.join(model.path, "config.json"), "w", encoding="utf-8") as f:
        json.dump({"epochs": epochs, "lr": lr, "features": int(x.shape[1])}, f)
    model.metadata["framework"] = "numpy"
    metrics.log_metric("mse", loss)
    metrics.log_metric("epochs", epochs)
    return loss
