"""The stages, upstream first. Each is a package whose `assets.py` declares its assets,
checks and configs; `definitions.py` collects them in this order and `jobs.py` takes the
curation groups from it. Imports point down this list (tests/test_import_direction.py):
a stage imports earlier stages and the shared packages below them, never a later stage.
"""

STAGES = (
    "ingestion",
    "validation",
    "embedding",
    "enrichment",
    "indexing",
    "diamonds_plus",
    "kernel",
    "training",
    "evaluation",
    "deploy",
    "feedback",
    "preference",
    "rotation",
)
# the asset groups one batch goes through (their steps read the curation settings file)
CURATION_GROUPS = STAGES[: STAGES.index("kernel") + 1]
