"""Credential redaction with detect-secrets' detectors, applied before text enters any table.

We reuse the regex detectors that detect-secrets ships (AWS, GitHub, GitLab, Slack,
Stripe, JWT, private keys, basic-auth URLs, ...) but run their patterns with
`finditer` over whole texts rather than through `scan_line`, because we need the exact
character span of each secret to replace it, and whole-text scanning is several times
faster than splitting every message into lines. Their entropy detectors are not used:
on prose and code they flag commit hashes, UUIDs and checksums.

`EXTRA_DETECTORS` adds what detect-secrets 1.5 misses: Hugging Face, Anthropic, newer
OpenAI, Google API and fine-grained GitHub tokens, passwords in connection strings with
characters its basic-auth pattern excludes, and secrets assigned to a password-like name
(`password = "..."`, `API_KEY=...`). Optional PII (emails, phone numbers via the
`phonenumbers` library) is for the security enzyme. A match that looks like a
placeholder (`AKIAXXXXXXXXEXAMPLE`, `<token>`, `${SECRET}`, `your_password`) is left as
it is, so documentation keeps reading naturally.
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
# Every pattern of these detect-secrets types requires a keyword (key, pwd, pw, password,
# pass, token, secret) or its service's domain; read from their denylists.
_KEYWORD_TYPES = {
    "Cloudant Credentials",
    "IBM COS HMAC Credentials",
    "IBM Cloud IAM Key",
    "SoftLayer Credentials",
}
_CREDENTIAL_WORD = re.compile(r"(?i)key|pw|pass|token|secret|cloudant|softlayer")
# Detectors whose first group is a prefix of the token, not the secret itself.
_WHOLE_MATCH_TYPES = {"GitHub Token", "GitLab Token"}
_PLACEHOLDER = re.compile(
    r"EXAMPLE|X{8,}|x{8,}|\*{4,}|<[^>]*>|\[[A-Z_]+\]|\$\{|\{\{|\.{3}|"
    r"(?i:example|your[_-]?|changeme|placeholder|dummy|redacted|sample|password|secret)"
)
_PRIVATE_KEY_END = re.compile(
    r"-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|---- END SSH2 ENCRYPTED PRIVATE KEY ----"
)
_EDGE_DELIMITERS = " \t\r\n=:\"'"


@dataclass(frozen=True)
class Detector:
    kind: str
    pattern: re.Pattern[str]
    whole_match: bool
    # True when the pattern can only match text holding a _CREDENTIAL_WORD: such
    # detectors are skipped for text without one (most text), which halves the scan
    needs_credential_word: bool = False


@dataclass(frozen=True)
class Finding:
    start: int
    end: int
    kind: str


def kind_slug(secret_type: str) -> str:
    """'AWS Access Key' -> 'aws_access_key'."""
    return re.sub(r"[^a-z0-9]+", "_", secret_type.lower()).strip("_")


_KEYWORD = r"(?:password|passwd|pwd|passphrase|secret|api[_-]?key|apikey|access[_-]?key|auth[_-]?token|access[_-]?token|client[_-]?secret|token)"
EXTRA_DETECTORS = (
    Detector("huggingface_token", re.compile(r"\bhf_[A-Za-z0-9]{30,40}\b"), True),
    Detector(
        "anthropic_api_key", re.compile(r"\bsk-ant-(?:api|admin|sid)\d{2}-[A-Za-z0-9_-]{32,}"), True
    ),
    Detector("openai_token", re.compile(r"\bsk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,}"), True),
    Detector("github_token", re.compile(r"\bgithub_pat_[A-Za-z0-9_]{50,}"), True),
    Detector("google_api_key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])"), True),
    Detector(
        "connection_string_password",
        re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]+:([^\s@/]{3,})@[\w.-]"),
        False,
    ),
    Detector(
        "password_assignment",
        re.compile(rf"(?i){_KEYWORD}[\"']?\s*[:=]\s*([\"'])([^\"'\s]{{6,200}})\1"),
        False,
        True,
    ),
    Detector(
        "password_assignment",
        re.compile(
            r"(?m)^[ \t]*(?:export[ \t]+)?[A-Z0-9_]*(?:PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|APIKEY|ACCESS_KEY)[A-Z0-9_]*[ \t]*=[ \t]*([^\s\"']{8,})[ \t]*$"
        ),
        False,
        True,
    ),
)
_EMAIL = re.compile(
    r"(?<![\w.+\-:/$!%&*])[A-Za-z0-9._%+-]+@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})\b"
)
_PLACEHOLDER_DOMAINS = re.compile(
    r"(?i)(?:^|\.)(?:example\.(?:com|org|net)|test|invalid|localhost)$"
)


@lru_cache(maxsize=1)
def detectors() -> tuple[Detector, ...]:
    """detect-secrets' regex detectors, then `EXTRA_DETECTORS`."""
    found = []
    for secret_type, plugin_class in sorted(get_mapping_from_secret_type_to_class().items()):
        if not issubclass(plugin_class, RegexBasedDetector) or secret_type in _EXCLUDED_TYPES:
            continue
        for pattern in plugin_class().denylist:
            found.append(
                Detector(
                    kind_slug(secret_type),
                    pattern,
                    secret_type in _WHOLE_MATCH_TYPES,
                    secret_type in _KEYWORD_TYPES,
                )
            )
    return tuple(found) + EXTRA_DETECTORS


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


def find_pii(text: str, emails: bool, phones: bool, region: str = "US") -> list[Finding]:
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


def find_secrets(text: str, emails: bool = False, phones: bool = False) -> list[Finding]:
    """Non-overlapping credential (and, if asked, PII) spans in `text`, earliest first."""
    findings: list[Finding] = find_pii(text, emails, phones) if emails or phones else []
    has_credential_word = _CREDENTIAL_WORD.search(text) is not None
    for detector in detectors():
        if detector.needs_credential_word and not has_credential_word:
            continue
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


def redact(text: str, emails: bool = False, phones: bool = False) -> tuple[str, list[str]]:
    """Replace each credential with `[REDACTED:<kind>]`; return the text and the kinds."""
    findings = find_secrets(text, emails, phones)
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
