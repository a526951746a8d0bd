"""Personal data the security enzyme can redact on request: emails and phone numbers."""

from __future__ import annotations

import re

from training_assets.redaction.engine import Finding

_EMAIL = re.compile(
    r"(?<![\w.+\-:/$!%&*])[A-Za-z0-9._%+-]+@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})\b"
)
_PLACEHOLDER_DOMAINS = re.compile(
    r"(?i)(?:^|\.)(?:example\.(?:com|org|net)|test|invalid|localhost)$"
)


def pii_findings(text: str, emails: bool, phones: bool, region: str = "US") -> list[Finding]:
    """Email addresses (not on placeholder domains) and phone numbers, if asked for."""
    findings = []
    if emails and "@" in text:
        for match in _EMAIL.finditer(text):
            if not _PLACEHOLDER_DOMAINS.search(match.group(1)):
                findings.append(Finding(match.start(), match.end(), "email"))
    if phones:
        import phonenumbers

        for match in phonenumbers.PhoneNumberMatcher(
            text, region, leniency=phonenumbers.Leniency.VALID
        ):
            findings.append(Finding(match.start, match.end, "phone_number"))
    return findings
