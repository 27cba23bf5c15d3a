"""Example Kubeflow pipelines built from cached components."""

import os

# The components' image: lineage-core and these modules installed (examples/kfp/Dockerfile). kfp.local's
# subprocess runner ignores it; a cluster needs it.
IMAGE = os.environ.get("LINEAGE_KFP_IMAGE", "lineage-kfp-examples:dev")
