"""make_dataset → finetune on a GPU node: native KFP artifacts (Dataset, Model, Metrics), cached by
lineage-core. The training task asks for one ``nvidia.com/gpu`` on an A100 node (node selector), tolerates the
GPU taint, gets a memory-backed ``/dev/shm`` and a model-cache volume, and reaches the shared store through
the ``lineage-store`` / ``lineage-token`` Kubernetes secrets. Re-submitting the pipeline with nothing changed
trains nothing: the model and metrics come back from the cache, verified.
"""

from kfp import dsl

from kfp_components.pipelines.finetune_steps import finetune, make_dataset


@dsl.pipeline(name="finetune")  # type: ignore[untyped-decorator]  # kfp.dsl is not typed
def finetune_pipeline(rows: int = 256, epochs: int = 200) -> float:
    data = make_dataset(rows=rows)
    trained = finetune(dataset=data.outputs["dataset"], epochs=epochs)
    loss: float = trained.outputs["Output"]  # a pipeline output: the task's returned parameter
    return loss
