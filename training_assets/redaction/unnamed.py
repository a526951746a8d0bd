"""Secrets with neither a vendor's shape nor a name: long tokens that can only be random.

A 32-character run that mixes upper case, lower case and digits with high entropy, and
whose letters fall into scraps rather than words, is a key whatever surrounds it (a
Doppler token pasted alone, a Twilio secret in a sentence). Hashes and UUIDs are single
case; identifiers and paths break into words; base64 payloads of data URIs and integrity
checksums are recognised by what precedes them. Everything shorter needs a name
(`assignments`) or a rule (`engine`).

Three more shapes no engine rule covers: password hashes in crypt(3) form (`$1$salt$…`,
bcrypt, sha512-crypt, yescrypt, argon2: an offline attack recovers the password), a
private key pasted base64-encoded (a PEM file's base64, `LS0tLS1CRUdJTi…`, or an OpenSSH
key body, `b3BlbnNzaC1rZXktdjE…`, wrapped or with `\r\n` escapes), and the values of a
Kubernetes `Secret` manifest's `data:` / `stringData:` block.
"""

from __future__ import annotations

import base64
import binascii
import re
import string

from training_assets.redaction.engine import Finding
from training_assets.redaction.values import is_placeholder, is_scrappy, shannon_entropy

_TOKEN = re.compile(r"[A-Za-z0-9_\-+/.~]{32,}={0,2}")
_SEQUENTIAL = re.compile(
    "|".join(
        alphabet[i : i + 4]
        for alphabet in (string.ascii_lowercase, string.digits)
        for i in range(len(alphabet) - 3)
    )
)
_FILE_NAME = re.compile(
    r"\.(?:zip|tar|gz|tgz|bz2|xz|zst|json|ya?ml|toml|txt|csv|py|js|ts|tsx|png|jpe?g|gif|svg|"
    r"pdf|log|md|html?|xml|so|dll|exe|jar|whl|deb|rpm|apk|dmg|iso)$",
    re.IGNORECASE,
)
_VERSION = re.compile(r"\d+\.\d+\.\d+")
_PATH_WORD = re.compile(r"(?:^|/)[a-z]{4,}(?:/|$)")
_BASE64_LINE = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}")
# crypt(3) password hashes: md5-crypt and Apache's apr1, bcrypt, sha256/512-crypt,
# yescrypt, argon2 (https://passlib.readthedocs.io/en/stable/modular_crypt_format.html)
_C = "[./0-9A-Za-z]"
_CRYPT_HASH = re.compile(
    rf"\$(?:1|apr1)\${_C}{{0,8}}\${_C}{{22}}"
    rf"|\$2[abxy]?\$\d\d\${_C}{{53}}"
    rf"|\$[56]\$(?:rounds=\d+\$)?{_C}{{0,16}}\${_C}{{43}}(?:{_C}{{43}})?"
    rf"|\$(?:y|gy|7)\${_C}+\${_C}+\${_C}{{43}}"
    r"|\$argon2(?:id|i|d)\$v=\d+\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]{16,}"
)
# base64 of "-----BEGIN" (then "… PRIVATE KEY" inside), and of "openssh-key-v1"; the
# block runs on over line breaks, real or written as `\n` / `\r\n` escapes
_ENCODED_KEY = re.compile(
    r"(?:LS0tLS1CRUdJTi|b3BlbnNzaC1rZXktdjE)[A-Za-z0-9+/=]*"
    r"(?:(?:\\[rn]|[\r\n])+(?:[A-Za-z0-9+/]{16,}={0,2}|[A-Za-z0-9+/]{1,15}={1,2}))*"
)
_KUBERNETES_SECRET = re.compile(r"(?m)^[ \t]*[\"']?kind[\"']?:[ \t]*[\"']?(?i:secret)\b")
_SECRET_DATA = re.compile(r"(?m)^([ \t]*)(?:data|stringData):[ \t]*$")
_DATA_ENTRY = re.compile(r"(?m)^([ \t]+)[\"']?[\w.\-]+[\"']?:[ \t]*[\"']?([^\s\"'#]+)")
# what a base64 payload that is not a secret follows: a data URI, an SRI / npm checksum
_PAYLOAD_LEADS = ("base64,", "sha512-", "sha384-", "sha256-", "sha1-", "sha256:")


def _is_random(token: str) -> bool:
    core = token.rstrip("=.")
    if len(core) < 32 or core.startswith(_PAYLOAD_LEADS) or is_placeholder(core):
        return False
    if core.count("/") >= 2 and _PATH_WORD.search(core):
        return False  # a path: `src/components/app`
    if _FILE_NAME.search(core) or _VERSION.search(core):
        return False  # `ICS-DA_FBF_3.6.0.0-QA-Test-7-fca2a0fb7.zip`: a build artefact's name
    if len(core) >= 40 and _encodes_text(token):
        return False  # base64 of a sentence or a stylesheet, not of key bytes
    if not any(c.isupper() for c in core):
        # lower case and digits: a hash is hex, so letters past 'f' and more disorder; a
        # dot makes it a host name
        digits = sum(c.isdigit() for c in core)
        if digits < 4 or "." in core or not any("g" <= c <= "z" for c in core):
            return False
        if _SEQUENTIAL.search(core):
            return False  # `abcd1234-efgh5678-…` is what documentation writes, with no name
        return shannon_entropy(core) >= 4.4
    return is_scrappy(core) and shannon_entropy(core) >= 4.2


def _encodes_text(token: str) -> bool:
    """Does `token` base64-decode to readable text with spaces? Keys decode to noise."""
    try:
        decoded = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=False)
    except (binascii.Error, ValueError):
        return False
    if not decoded:
        return False
    printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in decoded)
    return printable / len(decoded) >= 0.95 and b" " in decoded


def _encodes_private_key(block: str) -> bool:
    if block.startswith("b3BlbnNzaC1rZXktdjE"):
        return True  # "openssh-key-v1": the body of an OpenSSH private key
    head = re.sub(r"\\[rn]|\s", "", block)[:96]
    try:
        decoded = base64.b64decode(head[: len(head) // 4 * 4])
    except (binascii.Error, ValueError):
        return False
    return b"PRIVATE KEY" in decoded


def _kubernetes_secret_values(text: str) -> list[Finding]:
    """The values under `data:` / `stringData:` of a manifest of `kind: Secret`."""
    findings = []
    for block in _SECRET_DATA.finditer(text):
        indent = len(block.group(1).expandtabs())
        position = block.end() + 1
        while entry := _DATA_ENTRY.match(text, position):
            if len(entry.group(1).expandtabs()) <= indent:
                break
            if not is_placeholder(entry.group(2)):
                findings.append(Finding(*entry.span(2), "kubernetes_secret"))
            position = text.find("\n", entry.end())
            if position == -1:
                break
            position += 1
    return findings


def shaped_findings(text: str) -> list[Finding]:
    """Password hashes, encoded private keys and Kubernetes Secret values in `text`."""
    findings = []
    if "$" in text:
        findings += [Finding(*m.span(), "password_hash") for m in _CRYPT_HASH.finditer(text)]
    if "LS0tLS1CRUdJTi" in text or "b3BlbnNzaC1rZXktdjE" in text:
        for match in _ENCODED_KEY.finditer(text):
            if _encodes_private_key(match.group()):
                findings.append(Finding(*match.span(), "private_key"))
    if "ecret" in text and _KUBERNETES_SECRET.search(text):
        findings += _kubernetes_secret_values(text)
    return findings


def unnamed_findings(text: str) -> list[Finding]:
    """Long random tokens anywhere in `text`, and the shapes of `shaped_findings`."""
    findings = shaped_findings(text)
    for match in _TOKEN.finditer(text):
        if not _is_random(match.group()):
            continue
        lead = text[max(0, match.start() - 16) : match.start()]
        if lead.endswith(_PAYLOAD_LEADS) or (lead.endswith(":") and match.group().startswith("//")):
            continue  # a checksum, a data URI's payload, or the rest of a URL
        findings.append(Finding(*_base64_block(text, match.start(), match.end()), "random_token"))
    return findings


def _base64_block(text: str, start: int, end: int) -> tuple[int, int]:
    """A line of a wrapped base64 body (a PEM key pasted without its header) takes the
    whole block with it: lines above and below made of base64 alone, the short last one
    included."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line_end = len(text) if line_end == -1 else line_end
    if text[line_start:start].strip() or text[end:line_end].strip():
        return start, end
    while line_start > 0:
        above = text.rfind("\n", 0, line_start - 1) + 1
        if not _BASE64_LINE.fullmatch(text[above : line_start - 1].strip()):
            break
        line_start = above
    while line_end < len(text):
        below = text.find("\n", line_end + 1)
        below = len(text) if below == -1 else below
        if not _BASE64_LINE.fullmatch(text[line_end + 1 : below].strip()):
            break
        line_end = below
    return line_start, line_end
