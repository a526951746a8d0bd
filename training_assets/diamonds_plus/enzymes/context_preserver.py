"""context-preserver: give a multi-turn span the turns before it, within a token budget.

The asset passes `thread_history`: the earlier turns of the span's own thread, oldest
first, found by following `parent_id` inside the batch and only while the parent has
the same `thread_id` — a span never gets context from another thread. The newest turns
are kept until the budget (counted with the base model's tokenizer) is spent, so the
example stands on its own when it is rendered as a chat.

Quality: +3 when context is attached; −5 when the span names a parent that the batch
does not have (the example is a reply to something the model will never see).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from training_assets.diamonds_plus.enzymes.base import EnzymeResult


@dataclass
class ContextPreserver:
    count_tokens: Callable[[str], int]
    token_budget: int = 1024
    name: str = "context-preserver"
    _counted: dict = field(default_factory=dict, repr=False)

    def _turn_tokens(self, turn: dict) -> int:
        """Token count of a turn, counted once per turn id (a turn precedes many spans)."""
        key = turn.get("id")
        if key is not None and key in self._counted:
            return self._counted[key]
        cost = self.count_tokens(turn["this"] or "") + self.count_tokens(turn["if_ok"] or "")
        if key is not None:
            self._counted[key] = cost
        return cost

    def __call__(self, span: dict) -> EnzymeResult:
        history = span.get("thread_history") or []
        if not history:
            if span.get("parent_id") and span.get("parent_missing"):
                return EnzymeResult(
                    span, ["parent turn is not in this batch: no context"], -5.0, effective=True
                )
            return EnzymeResult(span)
        kept, spent = [], 0
        for turn in reversed(history):
            cost = self._turn_tokens(turn)
            if spent + cost > self.token_budget:
                break
            kept.append(turn)
            spent += cost
        if not kept:  # the previous turn alone is over budget
            return EnzymeResult(span, effective=True)
        kept.reverse()
        out = dict(span)
        out["context"] = [{"this": t["this"], "if_ok": t["if_ok"]} for t in kept]
        dropped = len(history) - len(kept)
        note = f"attached {len(kept)} earlier turn(s), {spent} tokens"
        if dropped:
            note += f"; {dropped} older turn(s) over the {self.token_budget}-token budget"
        return EnzymeResult(out, [note], 3.0, effective=True)
