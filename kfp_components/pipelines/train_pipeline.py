"""prepare → train → evaluate, the KFP twin of the Airflow ``train_sklearn`` DAG, every step cached.

Run it twice and the second run is all hits from lineage-core's cache (KFP's own cache off, so it cannot hide
ours). Each component's output is a reference to the stored value, so a downstream step keys it by content.
"""

from kfp import dsl

from kfp_components.pipelines.sklearn_steps import evaluate, prepare, train


@dsl.pipeline(name="train-sklearn")
def train_pipeline(c: float = 1.0) -> None:
    frame = prepare().set_caching_options(False)
    model = train(frame=frame.output, c=c).set_caching_options(False)
    evaluate(model=model.output, frame=frame.output).set_caching_options(False)
