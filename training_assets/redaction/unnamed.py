"""Secrets with neither a vendor's shape nor a name: long tokens that can only be random.

A 32-character run that mixes upper case, lower case and digits with high entropy, and
whose letters fall into scraps rather than words, is a key whatever surrounds it (a
Doppler token pasted alone, a Twilio secret in a sentence). Hashes and UUIDs are single
case; identifiers and paths break into words; base64 payloads of data URIs and integrity
checksums are recognised by what precedes them. Everything shorter needs a name
(`assignments`) or a rule (`engine`).
"""

from __future__ import annotations

import re

from training_assets.redaction.engine import Finding
from training_assets.redaction.values import is_placeholder, shannon_entropy

_TOKEN = re.compile(r"[A-Za-z0-9_\-+/.~]{32,}={0,2}")
_LETTER_RUNS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")
# what a base64 payload that is not a secret follows: a data URI, an SRI / npm checksum
_PAYLOAD_LEADS = ("base64,", "sha512-", "sha384-", "sha256-", "sha1-", "sha256:")


def _is_random(token: str) -> bool:
    core = token.rstrip("=.")
    if len(core) < 32 or "://" in core or is_placeholder(core):
        return False
    digits = sum(c.isdigit() for c in core)
    if not any(c.isupper() for c in core):
        # lower case and digits: a hash is hex, so letters past 'f' and more disorder
        if digits < 4 or not any("g" <= c <= "z" for c in core):
            return False
        return shannon_entropy(core) >= 4.4
    if not any(c.islower() for c in core) or digits < 2 or shannon_entropy(core) < 4.2:
        return False
    runs = _LETTER_RUNS.findall(core)
    return bool(runs) and sum(map(len, runs)) / len(runs) < 3.0


def unnamed_findings(text: str) -> list[Finding]:
    """Long random tokens anywhere in `text`."""
    findings = []
    for match in _TOKEN.finditer(text):
        if not _is_random(match.group()):
            continue
        lead = text[max(0, match.start() - 16) : match.start()]
        if lead.endswith(_PAYLOAD_LEADS):
            continue
        findings.append(Finding(match.start(), match.end(), "random_token"))
    return findings
