"""Credential redaction: find every secret in a span's text and replace each occurrence whole.

Kingfisher's rules (`engine`) find the secrets that have a shape of their own; the
project's `assignments` find those only a name gives away, and `unnamed` the long
random tokens that need neither. Every finding is widened to
the whole token it sits in (`values.widen_to_token`), and then every occurrence of each
found value, in every field handed over together, becomes `[REDACTED:<kind>]`: a key
quoted twice, or once in the question and once in the system prompt, is gone from both.
Found values live only in memory for the call; nothing here logs or returns them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from training_assets.redaction.assignments import assignment_findings
from training_assets.redaction.engine import Finding, engine_findings
from training_assets.redaction.pii import pii_findings
from training_assets.redaction.unnamed import unnamed_findings
from training_assets.redaction.values import is_placeholder, widen_to_token, widen_to_url

__all__ = [
    "Finding",
    "find_secrets",
    "found_values",
    "redact",
    "redact_fields",
    "replace_in_fields",
    "replace_values",
]

# Joins the fields of one span for a single engine call; no rule matches across it.
FIELD_SEPARATOR = "\n\n\n"
_MULTILINE_KINDS = frozenset({"private_key", "pkcs12_file", "putty_private_key"})
_PII_KINDS = frozenset({"email", "phone_number"})


def find_secrets(text: str, emails: bool = False, phones: bool = False) -> list[Finding]:
    """Non-overlapping credential (and, if asked, PII) spans in `text`, earliest first."""
    findings = engine_findings(text) + assignment_findings(text) + unnamed_findings(text)
    if emails or phones:
        findings += pii_findings(text, emails, phones)
    widened = []
    for finding in findings:
        start, end = finding.start, finding.end
        if finding.kind not in _PII_KINDS and finding.kind not in _MULTILINE_KINDS:
            start, end = widen_to_url(text, *widen_to_token(text, start, end))
        if end <= start or is_placeholder(text[start:end]):
            continue
        widened.append(Finding(start, end, finding.kind))
    widened.sort(key=lambda f: (f.start, -f.end))
    merged: list[Finding] = []
    for finding in widened:
        if merged and finding.start < merged[-1].end:
            if finding.end > merged[-1].end:
                merged[-1] = Finding(merged[-1].start, finding.end, merged[-1].kind)
            continue
        merged.append(finding)
    return merged


def found_values(text: str, emails: bool = False, phones: bool = False) -> dict[str, str]:
    """Each distinct secret value in `text` with its kind (the pieces between fields)."""
    values: dict[str, str] = {}
    for finding in find_secrets(text, emails, phones):
        for piece in text[finding.start : finding.end].split(FIELD_SEPARATOR):
            piece = piece.strip()
            if piece:
                values.setdefault(piece, finding.kind)
    return values


def _alternation(values: Mapping[str, str]) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(v) for v in sorted(values, key=len, reverse=True)))


def replace_values(
    text: str, values: Mapping[str, str], pattern: re.Pattern[str] | None = None
) -> tuple[str, list[str]]:
    """Every occurrence of every value in `text` replaced by its kind; the kinds in order."""
    if not values:
        return text, []
    kinds: list[str] = []

    def replacement(match: re.Match[str]) -> str:
        kinds.append(values[match.group(0)])
        return f"[REDACTED:{values[match.group(0)]}]"

    return (pattern or _alternation(values)).sub(replacement, text), kinds


def redact(text: str, emails: bool = False, phones: bool = False) -> tuple[str, list[str]]:
    """Replace each credential with `[REDACTED:<kind>]`; return the text and the kinds."""
    return replace_values(text, found_values(text, emails, phones))


def redact_fields(
    values: Iterable[str | None], emails: bool = False, phones: bool = False
) -> tuple[list[str | None], list[str], dict[str, str]]:
    """Redact the fields of one span together: a value found in any field is replaced in all.

    Returns the fields, the kinds of every replacement in order, and the values found
    (for the caller to carry to the rest of the batch; never to be stored).
    """
    fields = list(values)
    present = [v for v in fields if v]
    if not present:
        return fields, [], {}
    found = found_values(FIELD_SEPARATOR.join(present), emails, phones)
    if not found:
        return fields, [], {}
    out, kinds = replace_in_fields(fields, found)
    return out, kinds, found


def replace_in_fields(
    fields: list[str | None], values: Mapping[str, str]
) -> tuple[list[str | None], list[str]]:
    """`replace_values` over several optional strings: the fields, and all kinds in order."""
    pattern = _alternation(values)
    out, kinds = [], []
    for value in fields:
        if not value:
            out.append(value)
            continue
        clean, replaced = replace_values(value, values, pattern)
        out.append(clean)
        kinds.extend(replaced)
    return out, kinds
