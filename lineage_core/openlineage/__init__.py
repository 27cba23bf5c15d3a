"""OpenLineage for lineage-core runs: custom facets (``facets``), dataset naming (``naming``) and
RunEvents built with openlineage-python (``events``). Imported lazily: openlineage-python is not on
the import path of ``lineage_core`` itself."""
