"""Quality estimate, complexity score and tags behave as documented."""

from __future__ import annotations

import numpy as np

from training_assets.enrichment.complexity import complexity_score
from training_assets.enrichment.tags import structural_tags, tag_matrix
from training_assets.validation.quality import estimate_quality


def test_quality_estimate_orders_good_above_refusals_and_stubs():
    good = estimate_quality(
        "How do I read a CSV file in pandas?",
        "Use pandas.read_csv:\n\n```python\nimport pandas as pd\ndf = pd.read_csv('data.csv')\n```\nIt returns a DataFrame.",
    )
    refusal = estimate_quality(
        "Write my essay", "As an AI language model, I cannot write essays for you."
    )
    stub = estimate_quality("Explain relativity", "ok")
    assert good >= 90 and refusal < 80 and stub < 80
    assert 0 <= stub <= refusal <= good <= 100


def test_complexity_grows_with_length_code_and_depth():
    short = complexity_score("Capital of France?", "Paris.", 0)
    long_code = complexity_score(
        "Write a web server with routing and tests",
        "Here is a plan:\n"
        + "\n".join(f"{i}. step {i} with details" for i in range(1, 9))
        + "\n```python\n"
        + "\n".join(f"def handler_{i}(request):\n    return {i}" for i in range(30))
        + "\n```",
        6,
    )
    assert 0 <= short < 25 < 60 < long_code <= 100


def test_semantic_tags_pick_close_prototypes_only():
    tags = np.eye(3, dtype=np.float32)
    vectors = np.array([[0.9, 0.1, 0.0], [0.1, 0.1, 0.1]], dtype=np.float32)
    assert tag_matrix(vectors, tags, ["a", "b", "c"], threshold=0.3, max_tags=2) == [["a"], []]
    assert structural_tags("q", "```py\nx\n```", 2) == ["code", "multi_turn"]
