"""load → answer → score → summarise, the KFP twin of the Airflow ``llm_eval`` DAG: the same functions
(``dags/llm_steps.py``), so every model call — through the openai SDK and ``lineage_core.llm.CachingTransport``,
and the LangChain grader under ``LineageLLMCache`` — is one cache entry whichever orchestrator made it first
(one shared store): a question the DAG asked is answered here from the store, and the other way round.

Run it twice and the second run is all hits from lineage-core's cache, with no request to the endpoint. The
endpoint is the SDK's own configuration (``OPENAI_BASE_URL``, ``OPENAI_API_KEY``: on a cluster, set them on the
tasks, the key from a Kubernetes secret).
"""

import llm_steps
from kfp import dsl

from kfp_components.pipelines import IMAGE
from lineage_kfp import cached_component

load_split = cached_component(name="llm_eval_kfp.load_split", base_image=IMAGE)(llm_steps.load_split)
answer = cached_component(name="llm_eval_kfp.answer", base_image=IMAGE)(llm_steps.answer)
score = cached_component(name="llm_eval_kfp.score", base_image=IMAGE)(llm_steps.score)
summarise = cached_component(name="llm_eval_kfp.summarise", base_image=IMAGE)(llm_steps.summarise)


@dsl.pipeline(name="llm-eval")  # type: ignore[untyped-decorator]  # kfp.dsl is not typed
def llm_eval_pipeline() -> None:
    dev = load_split(name="dev")
    test = load_split(name="test")
    dev_answers = answer(cases=dev.output)
    test_answers = answer(cases=test.output)
    scores = score(dev=dev.output, dev_answers=dev_answers.output, test=test.output, test_answers=test_answers.output)
    summarise(scores=scores.output)
