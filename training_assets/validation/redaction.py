"""Credential redaction with detect-secrets' detectors, applied before text enters any table.

We reuse the regex detectors that detect-secrets ships (AWS, GitHub, GitLab, Slack,
Stripe, JWT, private keys, basic-auth URLs, ...) but run their patterns with
`finditer` over whole texts rather than through `scan_line`, because we need the exact
character span of each secret to replace it, and whole-text scanning is several times
faster than splitting every message into lines. Entropy and keyword detectors are left
to the deeper security enzyme (Phase 1): on prose they flag hashes and ordinary words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
from detect_secrets.plugins.base import RegexBasedDetector

# Detectors whose pattern flags something that is not a credential.
_EXCLUDED_TYPES = {"Public IP (ipv4)"}
# Detectors whose first group is a prefix of the token, not the secret itself.
_WHOLE_MATCH_TYPES = {"GitHub Token", "GitLab Token"}
_PLACEHOLDER = re.compile(r"EXAMPLE|X{8,}|x{8,}|\*{4,}|<[^>]*>|\$\{|\{\{")
_PRIVATE_KEY_END = re.compile(
    r"-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|---- END SSH2 ENCRYPTED PRIVATE KEY ----"
)
_EDGE_DELIMITERS = " \t\r\n=:\"'"


@dataclass(frozen=True)
class Detector:
    kind: str
    pattern: re.Pattern[str]
    whole_match: bool


@dataclass(frozen=True)
class Finding:
    start: int
    end: int
    kind: str


def kind_slug(secret_type: str) -> str:
    """'AWS Access Key' -> 'aws_access_key'."""
    return re.sub(r"[^a-z0-9]+", "_", secret_type.lower()).strip("_")


@lru_cache(maxsize=1)
def detectors() -> tuple[Detector, ...]:
    found = []
    for secret_type, plugin_class in sorted(get_mapping_from_secret_type_to_class().items()):
        if not issubclass(plugin_class, RegexBasedDetector) or secret_type in _EXCLUDED_TYPES:
            continue
        for pattern in plugin_class().denylist:
            found.append(
                Detector(kind_slug(secret_type), pattern, secret_type in _WHOLE_MATCH_TYPES)
            )
    return tuple(found)


def _secret_span(match: re.Match[str], whole_match: bool) -> tuple[int, int]:
    if whole_match or match.re.groups == 0:
        start, end = match.span()
    else:
        group = max((g for g in range(1, match.re.groups + 1) if match.group(g)), default=0)
        start, end = match.span(group)
    text = match.string
    while start < end and text[start] in _EDGE_DELIMITERS:
        start += 1
    while end > start and text[end - 1] in _EDGE_DELIMITERS:
        end -= 1
    return start, end


def _extend_private_key(text: str, start: int, end: int) -> tuple[int, int]:
    """A private-key header match covers the whole PEM block, dashes to END line."""
    line_start = text.rfind("\n", 0, start) + 1
    dashes = text.rfind("-----", line_start, start)
    block_start = dashes if dashes != -1 else start
    closing = _PRIVATE_KEY_END.search(text, end)
    return block_start, closing.end() if closing else len(text)


def find_secrets(text: str) -> list[Finding]:
    """Non-overlapping credential spans in `text`, earliest first."""
    findings: list[Finding] = []
    for detector in detectors():
        for match in detector.pattern.finditer(text):
            start, end = _secret_span(match, detector.whole_match)
            if end <= start or _PLACEHOLDER.search(text, start, end):
                continue
            if detector.kind == "private_key":
                start, end = _extend_private_key(text, start, end)
            findings.append(Finding(start, end, detector.kind))
    findings.sort(key=lambda f: (f.start, -f.end))
    merged: list[Finding] = []
    for finding in findings:
        if merged and finding.start < merged[-1].end:
            if finding.end > merged[-1].end:
                merged[-1] = Finding(merged[-1].start, finding.end, merged[-1].kind)
            continue
        merged.append(finding)
    return merged


def redact(text: str) -> tuple[str, list[str]]:
    """Replace each credential with `[REDACTED:<kind>]`; return the text and the kinds."""
    findings = find_secrets(text)
    if not findings:
        return text, []
    pieces, cursor = [], 0
    for finding in findings:
        pieces.append(text[cursor : finding.start])
        pieces.append(f"[REDACTED:{finding.kind}]")
        cursor = finding.end
    pieces.append(text[cursor:])
    return "".join(pieces), [finding.kind for finding in findings]


def redact_fields(values: Iterable[str | None]) -> tuple[list[str | None], list[str]]:
    """Redact several optional strings; return them and all kinds found, in order."""
    out, kinds = [], []
    for value in values:
        if value is None:
            out.append(None)
            continue
        clean, found = redact(value)
        out.append(clean)
        kinds.extend(found)
    return out, kinds
