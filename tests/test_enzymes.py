"""The enzymes as pure functions: what each changes, what it must leave alone."""

from __future__ import annotations

import secrets
import string

import pytest

from training_assets.diamonds_plus.enzymes.base import EnzymeStats, run_chain
from training_assets.diamonds_plus.enzymes.context_preserver import ContextPreserver
from training_assets.diamonds_plus.enzymes.security import SecurityEnzyme
from training_assets.diamonds_plus.enzymes.semantic_enricher import SemanticEnricher
from training_assets.diamonds_plus.enzymes.syntax_optimizer import SyntaxOptimizer
from training_assets.diamonds_plus.threads import thread_histories


def token(n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    """A fresh random token, so that no real-looking credential is committed to the repo."""
    return "".join(secrets.choice(alphabet) for _ in range(n))


def test_syntax_optimizer_labels_formats_and_flags():
    span = {
        "this": "fix my code",
        "if_ok": "Try:\n```\ndef f(x):\n\treturn x+1   \n```\n\n```py\nprint 'old'\n```\n```\n{\"a\": 1}\n```",
    }
    result = SyntaxOptimizer()(span)
    text = result.span["if_ok"]
    assert "```python\ndef f(x):\n    return x + 1\n```" in text
    assert "```python\nprint 'old'\n```" in text, "broken code keeps its text"
    assert '```json\n{"a": 1}\n```' in text
    assert result.span["broken_code_blocks"] == 1 and result.span["code_blocks"] == 3
    assert result.quality_delta == -5 and result.effective
    assert span["if_ok"].startswith("Try:\n```\ndef"), "the input span is not mutated"


def test_syntax_optimizer_ignores_prose_and_flags_unclosed_fences():
    assert not SyntaxOptimizer()({"this": "q", "if_ok": "no code here"}).effective
    result = SyntaxOptimizer()({"this": "q", "if_ok": "Run:\n```bash\nls -la\n"})
    assert result.quality_delta == -5 and "unclosed" in " ".join(result.changes)


def test_security_enzyme_redacts_new_kinds_and_spares_look_alikes():
    hf, pat = f"hf_{token(34, string.ascii_letters)}", f"github_pat_{token(22)}_{token(59)}"
    text = (
        f"login with {hf} and {pat}; db at postgres://app:{token(10)}!x@db.internal/app\n"
        f'password = "{token(14)}"\n'
        "commit 3f2a9c1d4e5b6a7f8091a2b3c4d5e6f708192a3b, id 123e4567-e89b-12d3-a456-426614174000,"
        " sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855, #ff00aa,"
        ' AKIAXXXXXXXXEXAMPLE, password = "your_password"'
    )
    result = SecurityEnzyme()({"this": "creds?", "if_ok": text, "redactions": []})
    clean = result.span["if_ok"]
    assert hf not in clean and pat not in clean
    assert sorted(set(result.span["redactions"])) == [
        "generic_credential_uri",
        "github_fine_grained_pat",
        "huggingface_access_token",
        "password_assignment",
    ]
    for look_alike in (
        "3f2a9c1d4e5b",
        "123e4567-e89b",
        "e3b0c44298fc",
        "#ff00aa",
        "AKIAXXXXXXXXEXAMPLE",
        "your_password",
    ):
        assert look_alike in clean
    assert all(pat not in change and hf not in change for change in result.changes)


def test_security_enzyme_pii_is_optional_and_covers_context():
    span = {
        "this": "q",
        "if_ok": "mail jane.doe@acme.io",
        "redactions": [],
        "context": [{"this": "call +1 415-555-0132", "if_ok": "ok"}],
    }
    assert SecurityEnzyme()(span).span["if_ok"] == "mail jane.doe@acme.io"
    result = SecurityEnzyme(redact_emails=True, redact_phone_numbers=True)(span)
    assert result.span["if_ok"] == "mail [REDACTED:email]"
    assert result.span["context"][0]["this"] == "call [REDACTED:phone_number]"


def test_context_preserver_stays_in_thread_and_budget():
    import polars as pl

    raw = pl.DataFrame(
        {
            "id": ["t:0", "t:1", "t:2", "u:0"],
            "thread_id": ["t", "t", "t", "u"],
            "parent_id": [None, "t:0", "t:1", None],
            "this": ["first question " * 20, "second", "third", "other thread"],
            "if_ok": ["first answer " * 20, "second answer", "third answer", "x"],
        }
    )
    spans = [
        {"id": "t:2", "thread_id": "t", "parent_id": "t:1"},
        {"id": "u:1", "thread_id": "u", "parent_id": "t:1"},  # parent from another thread
        {"id": "v:1", "thread_id": "v", "parent_id": "v:0"},  # parent not in the batch
    ]
    histories, missing = thread_histories(raw, spans)
    assert [t["id"] for t in histories[0]] == ["t:0", "t:1"]
    assert histories[1] == [] and missing == [False, False, True]
    words = ContextPreserver(lambda text: len(text.split()), token_budget=10)
    result = words({**spans[0], "thread_history": histories[0]})
    assert [t["this"] for t in result.span["context"]] == ["second"], "oldest turn over budget"
    assert result.quality_delta == 3
    lost = words({**spans[2], "thread_history": [], "parent_missing": True})
    assert lost.quality_delta == -5 and "context" not in lost.span


def test_semantic_enricher_votes_and_never_invents():
    neighbors = [
        {"id": "a", "similarity": 0.91, "environment": "python", "tags": ["programming"]},
        {"id": "b", "similarity": 0.88, "environment": "python", "tags": ["programming"]},
        {"id": "c", "similarity": 0.85, "environment": "rust", "tags": []},
        {"id": "d", "similarity": 0.40, "environment": "go", "tags": ["cooking"]},
    ]
    result = SemanticEnricher()(
        {"this": "q", "environment": None, "tags": [], "neighbors": neighbors}
    )
    assert result.span["environment"] == "python"
    assert result.span["related_ids"] == ["a", "b", "c"]
    assert result.span["tags"] == ["programming"] and result.quality_delta == 1
    split = [
        dict(n, environment=env) for n, env in zip(neighbors, ["x", "y", "z", "x"], strict=True)
    ]
    kept = SemanticEnricher()({"this": "q", "environment": None, "tags": [], "neighbors": split})
    assert kept.span["environment"] is None, "no majority, no value"
    known = SemanticEnricher()(
        {"this": "q", "environment": "go", "tags": [], "neighbors": neighbors}
    )
    assert known.span["environment"] == "go"


def test_chain_keeps_counters_and_a_switched_off_enzyme_does_not_run():
    spans = [
        {"this": "q", "if_ok": "```\ndef f():\n  return 1\n```", "redactions": []},
        {"this": "q", "if_ok": "plain"},
    ]
    stats: dict[str, EnzymeStats] = {}
    outcomes = list(run_chain(spans, [SyntaxOptimizer(), SecurityEnzyme()], stats))
    assert len(outcomes) == 2 and set(stats) == {"syntax-optimizer", "security-enzyme"}
    assert (stats["syntax-optimizer"].seen, stats["syntax-optimizer"].effective_calls) == (2, 1)
    assert stats["security-enzyme"].effective_calls == 2
    assert outcomes[0].log and outcomes[0].log[0].startswith("syntax-optimizer: ")


@pytest.mark.parametrize("fence", ["```", "~~~"])
def test_split_and_join_round_trip(fence):
    from training_assets.diamonds_plus.enzymes.syntax_optimizer import join_blocks, split_blocks

    text = f"a\n\n{fence}sql\nSELECT 1;\n{fence}\nb\n"
    assert join_blocks(split_blocks(text)) == text
