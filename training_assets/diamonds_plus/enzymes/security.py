"""security-enzyme: the last word on secrets and, if asked, personal data.

raw_spans already ran the credential detectors (training_assets/redaction/)
as text entered the first table; this pass runs them again over everything the span
will carry into training — including the thread context the context preserver attached
— and adds emails and phone numbers when configured. A redaction keeps its kind
(`[REDACTED:github_token]`); the change log names kinds and counts, never the text.

Quality: −2 per redaction made here, at most −10 (a redacted example teaches the model
a placeholder where an answer had content).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field

from training_assets.diamonds_plus.enzymes.base import EnzymeResult
from training_assets.redaction import redact

TEXT_FIELDS = ("this", "if_ok", "system")


@dataclass
class SecurityEnzyme:
    redact_emails: bool = False
    redact_phone_numbers: bool = False
    name: str = "security-enzyme"

    _scanned: dict = field(default_factory=dict, repr=False)

    def _clean(self, text: str | None, kinds: list[str]) -> str | None:
        """`text` redacted. A turn comes back as context of every later turn of its
        thread, so results are remembered by a digest of the text (not the text: that
        would keep a second copy of the batch alive)."""
        if not text:
            return text
        key = hashlib.blake2b(text.encode(), digest_size=16).digest()
        known = self._scanned.get(key)
        if known is None:
            clean, found = redact(text, self.redact_emails, self.redact_phone_numbers)
            known = (clean, tuple(found)) if found else ()
            self._scanned[key] = known
        if not known:
            return text
        kinds.extend(known[1])
        return known[0]

    def __call__(self, span: dict) -> EnzymeResult:
        kinds: list[str] = []
        out = dict(span)
        for name in TEXT_FIELDS:
            if name in out:
                out[name] = self._clean(out[name], kinds)
        if out.get("context"):
            out["context"] = [
                {
                    **turn,
                    "this": self._clean(turn["this"], kinds),
                    "if_ok": self._clean(turn["if_ok"], kinds),
                }
                for turn in out["context"]
            ]
        if not kinds:
            return EnzymeResult(span, effective=True)
        out["redactions"] = list(span.get("redactions") or []) + kinds
        counts = Counter(kinds)
        changes = [f"redacted {n} × {kind}" for kind, n in sorted(counts.items())]
        return EnzymeResult(out, changes, -min(10.0, 2.0 * len(kinds)), effective=True)
