"""Kingfisher, the secret-scanning engine underneath: its ~490 bundled rules, in process.

Kingfisher (MongoDB, Apache-2.0) compiles gitleaks' successor rules (Betterleaks) and
Google's Veles rules into one Vectorscan database and scans a buffer in microseconds. It
reports byte offsets into the UTF-8 it was given; this module turns them into character
offsets of the Python string, so text with accents, emoji, NUL bytes or lone surrogates
is cut where the secret is and nowhere else.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import kingfisher_sdk
import yaml

from training_assets.redaction.values import looks_random
from training_assets.settings import DEFAULT_WORKSPACE

# Components that name an account rather than open it (client ids, hosts, account names):
# Kingfisher reports them to pair with a secret, and they are no credential on their own.
_IDENTIFIER_COMPONENT = re.compile(
    r"(?:-id|-name|-url|-host|-domain|-address|-repository)(?:\.\d+)?$"
)
_RULE_PREFIX = re.compile(
    r"^(?:custom\.(?:standalone|loose)\.|betterleaks\.|kingfisher\.|veles\.secrets/|custom\.)"
)


@dataclass(frozen=True)
class Finding:
    """A credential at text[start:end]; `kind` names its rule ("stripe_access_token")."""

    start: int
    end: int
    kind: str


def rule_kind(rule_id: str) -> str:
    """'betterleaks.stripe-access-token' -> 'stripe_access_token'; 'x.auth0-client-id.1' too."""
    name = _RULE_PREFIX.sub("", rule_id)
    name = re.sub(r"\.\d+$", "", name)
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def rule_cache_dir() -> Path:
    """Kingfisher's compiled rules are cached under the workspace, like every other file
    the project writes (KF_RULE_CACHE_DIR overrides); the first load compiles (~5 s)."""
    configured = os.environ.get("KF_RULE_CACHE_DIR")
    if configured:
        return Path(configured)
    workspace = Path(os.environ.get("TRAINING_WORKSPACE") or DEFAULT_WORKSPACE)
    return workspace / "redaction" / "kingfisher-rules"


# A literal a rule's pattern opens with: `\b(hf_(?i:[a-z]{34}))` -> "hf_".
_LEADING_SYNTAX = re.compile(r"^(?:\\b|\^|\(\?[a-zA-Z]+\)|\(\?:|\((?!\?)|\(\?P?<\w+>)+")
_SEPARATED_PREFIX = re.compile(r"^[A-Za-z0-9]+(?:[_.\-][A-Za-z0-9]+)*[_.\-]$|^\w+-\w{8,}$")
_CAPITALISED_PREFIX = re.compile(r"^[A-Z][A-Za-z0-9]*[A-Z0-9][A-Za-z0-9]*$")


def literal_prefix(pattern: str) -> str:
    """The literal text every match of `pattern` starts with ("" if none)."""
    body = _LEADING_SYNTAX.sub("", pattern)
    prefix, position = [], 0
    while position < len(body):
        char = body[position]
        if char == "\\" and body[position + 1 : position + 2] in ("-", "_", ".", "/"):
            prefix.append(body[position + 1])
            position += 2
            continue
        if char in "\\^$.|?*+()[]{}":
            if char in "?*{" and prefix:
                prefix.pop()  # a quantifier makes the last literal optional
            break
        prefix.append(char)
        position += 1
    return "".join(prefix)


def token_prefix(pattern: str) -> str | None:
    """A vendor's token prefix (`hf_`, `glpat-`, `AKIA`), not a keyword (`twitter`)."""
    prefix = literal_prefix(pattern)
    if len(prefix) >= 3 and _SEPARATED_PREFIX.match(prefix):
        return prefix
    if 4 <= len(prefix) <= 8 and _CAPITALISED_PREFIX.match(prefix):
        return prefix
    return None


def _custom_rule(family: str, rule_id: str, name: str, pattern: str, min_entropy: float) -> dict:
    """A Kingfisher rule of ours, derived from the bundled rule `rule_id`."""
    return {
        "name": name,
        "id": f"custom.{family}." + _RULE_PREFIX.sub("", rule_id).replace("/", "-"),
        "pattern": pattern,
        "min_entropy": min_entropy,
        "confidence": "medium",
        "examples": [],
    }


def loose_prefix_rule(rule_id: str, name: str, prefix: str) -> dict:
    """Any token that starts with a vendor's prefix, whatever its length and whatever
    follows it: the bundled rules ask for an exact length and a closing quote, space or
    `;`, so `hf_…,` in a sentence or a key one character longer passes them by."""
    pattern = rf"(?:^|[^A-Za-z0-9_\-])({re.escape(prefix)}[A-Za-z0-9_\-]{{16,400}})"
    # `prefix` is read back by catalog(); Kingfisher ignores keys it does not know
    return {**_custom_rule("loose", rule_id, name, pattern, 3.0), "prefix": prefix}


def standalone_rules(rules: kingfisher_sdk.Rules) -> list[dict]:
    """Loose twins of the prefixed rules (above), and the engine's paired rules (an AWS key
    id reported only beside its secret key, a client secret only beside its client id) as
    rules of their own, same patterns.

    A scanner reports a pair because one half alone rarely opens anything; a redactor
    must remove either half wherever it is, or the training set keeps it.
    """
    standalone, prefixes = [], set()
    for rule in rules.metadata():
        detail = rules.detail(rule["id"])
        prefix = token_prefix(detail["detection_regex"])
        if prefix and prefix not in prefixes:
            prefixes.add(prefix)
            standalone.append(loose_prefix_rule(rule["id"], rule["name"], prefix))
        if not detail["depends_on_rule"]:
            continue
        min_entropy = float(detail["min_entropy"] or 0.0)
        standalone.append(
            _custom_rule(
                "standalone", rule["id"], rule["name"], detail["detection_regex"], min_entropy
            )
        )
    return standalone


# bumped whenever standalone_rules changes, so a cached file of an older shape is rebuilt
_EXTRA_RULES_VERSION = 3


@dataclass(frozen=True)
class Catalog:
    scanner: kingfisher_sdk.Scanner
    loose_prefixes: dict[str, str]  # loose rule id -> the vendor prefix it looks for


@lru_cache(maxsize=1)
def catalog() -> Catalog:
    """The bundled rules plus `standalone_rules`, compiled once (Kingfisher caches it)."""
    cache = rule_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    extra = cache / f"standalone-{kingfisher_sdk.__version__}-{_EXTRA_RULES_VERSION}.yml"
    if not extra.exists():
        bundled = kingfisher_sdk.Rules(cache_dir=cache)
        staging = extra.with_suffix(f".{os.getpid()}.tmp")
        staging.write_text(yaml.safe_dump({"rules": standalone_rules(bundled)}))
        os.replace(staging, extra)
    loose = {
        r["id"]: r["prefix"] for r in yaml.safe_load(extra.read_text())["rules"] if "prefix" in r
    }
    return Catalog(kingfisher_sdk.Scanner(kingfisher_sdk.Rules([extra], cache_dir=cache)), loose)


def _char_offsets(text: str, data: bytes, byte_offsets: list[int]) -> list[int]:
    if len(data) == len(text):
        return byte_offsets
    return [len(data[:offset].decode("utf-8", "surrogatepass")) for offset in byte_offsets]


def engine_findings(text: str) -> list[Finding]:
    """Every credential Kingfisher's rules find in `text`, as character spans."""
    # a NUL is one byte either way; replacing it keeps the offsets and the scan textual
    data = text.replace("\x00", " ").encode("utf-8", "surrogatepass")
    rules = catalog()
    found = []
    for finding in rules.scanner.scan(data):
        if not finding.visible and _IDENTIFIER_COMPONENT.search(finding.rule_id):
            continue
        prefix = rules.loose_prefixes.get(finding.rule_id)
        if prefix and not looks_random(finding.secret[len(prefix) :], min_length=16):
            continue  # `re_compile_pattern`, not a Resend key
        location = finding.location
        found.append((location["start_offset"], location["end_offset"], finding.rule_id))
    if not found:
        return []
    offsets = _char_offsets(text, data, [o for start, end, _ in found for o in (start, end)])
    return [
        Finding(offsets[2 * i], offsets[2 * i + 1], rule_kind(rule_id))
        for i, (_, _, rule_id) in enumerate(found)
    ]
