"""semantic-enricher: fill what a span lacks from its nearest diamonds in the HNSW index.

The asset passes `neighbors`: the span's nearest indexed diamonds (itself excluded), as
dicts with `id`, `similarity`, `environment` and `tags`. Nothing is written that a
neighbour does not already carry — the enricher never invents text:

- `related_ids`: neighbours at cosine ≥ `related_similarity`, best first (at most 5);
- `environment`, when missing: the value most close neighbours agree on, if at least
  `min_votes` of them carry it and they are more than half of those that carry one;
- semantic `tags`, when the span has none: a tag that at least `tag_share` of at least
  `min_votes` close neighbours carry.

Quality: +1 when the environment is filled (the example now says where it applies).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from training_assets.diamonds_plus.enzymes.base import EnzymeResult
from training_assets.spans.taxonomy import TAXONOMY


@dataclass
class SemanticEnricher:
    related_similarity: float = 0.80
    max_related: int = 5
    min_votes: int = 2
    tag_share: float = 0.6
    name: str = "semantic-enricher"

    def __call__(self, span: dict) -> EnzymeResult:
        neighbors = span.get("neighbors") or []
        if not neighbors:
            return EnzymeResult(span)
        close = [n for n in neighbors if n["similarity"] >= self.related_similarity]
        out, changes, delta = dict(span), [], 0.0
        related = [n["id"] for n in close[: self.max_related]]
        if related != list(span.get("related_ids") or []):
            out["related_ids"] = related
            if related:
                changes.append(f"{len(related)} related span(s)")
        if not span.get("environment"):
            votes = Counter(n["environment"] for n in close if n.get("environment"))
            if votes:
                value, count = votes.most_common(1)[0]
                if count >= self.min_votes and count > sum(votes.values()) / 2:
                    out["environment"] = value
                    changes.append(f"environment '{value}' by {count} of {len(close)} neighbours")
                    delta += 1.0
        tags = list(span.get("tags") or [])
        if not any(tag in TAXONOMY for tag in tags) and len(close) >= self.min_votes:
            counts = Counter(t for n in close for t in set(n.get("tags") or []) if t in TAXONOMY)
            adopted = sorted(t for t, c in counts.items() if c >= self.tag_share * len(close))
            if adopted:
                out["tags"] = tags + adopted
                changes.append(f"tags {adopted} from {len(close)} neighbours")
        return EnzymeResult(out, changes, delta, effective=True)
