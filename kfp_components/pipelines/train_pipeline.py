"""prepare → train → evaluate, the KFP twin of the Airflow ``train_sklearn`` DAG: the same functions
(``dags/sklearn_steps.py``) under the same step names, so a step either orchestrator computed is a hit for the
other (one shared store).

Run it twice and the second run is all hits from lineage-core's cache (cached components turn KFP's own cache
off for their tasks, so it cannot hide ours; docs/kfp.md says when to turn it back on). Each component's output
is a reference to the stored value, so a downstream step keys it by content.
"""

import sklearn_steps
from kfp import dsl

from kfp_components.pipelines import IMAGE
from lineage_kfp import cached_component

prepare = cached_component(name="sklearn.prepare", base_image=IMAGE)(sklearn_steps.prepare)
train = cached_component(name="sklearn.train", pickle=True, base_image=IMAGE)(sklearn_steps.train)
evaluate = cached_component(name="sklearn.evaluate", pickle=True, base_image=IMAGE)(sklearn_steps.evaluate)


@dsl.pipeline(name="train-sklearn")  # type: ignore[untyped-decorator]  # kfp.dsl is not typed
def train_pipeline(c: float = 1.0) -> None:
    frame = prepare()
    model = train(frame=frame.output, c=c)
    evaluate(model=model.output, frame=frame.output)
