"""Secrets given a name: `api_key = "…"`, `--token X`, `Authorization: Bearer …`, `?sig=…`.

No engine rule can know that `a8f5f167…` is a key; its name says so. A value is taken
when the name holds a credential word (key, token, secret, password, credential, auth,
signature) and the value passes the test in `values` (random for keys and tokens, not a
placeholder or code for passwords). Every common syntax is read: `=`, `:`, `:=`, `=>`,
`<-`, `==`, YAML / TOML / INI / JSON / XML keys, shell `export`, `NAME=value` anywhere in a
line, CLI flags, HTTP headers, URL query parameters and userinfo, connection strings,
`.netrc` lines, and PEM private-key blocks the engine's rule rejects.
"""

from __future__ import annotations

import re
import string

from training_assets.redaction.engine import Finding
from training_assets.redaction.values import (
    is_named_secret,
    is_wordy,
    looks_like_password,
    looks_random,
)

# Where a credential name may be: one fast pass finds these, then each is read in place.
# Searched in an ASCII-lowercased copy (same length, so positions hold): a plain
# alternation runs ~5x faster than the same one case-insensitive.
_CREDENTIAL_WORD = re.compile(r"key|token|secret|pass|pw|cred|auth|bearer|sig|private|access|api")
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_PASSWORD_WORD = re.compile(
    r"(?i)passw|pwd|passphrase|passcode|(?:^|[_\-.])(?:pass|pw)(?:$|[_\-.])"
)
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
_NAME_TAIL = re.compile(r"[A-Za-z0-9_.\-]*")
_NAME_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
# weak words must be whole words of the name; strong ones may sit inside one (apitoken)
_WEAK_WORDS = frozenset(
    {"key", "keys", "pass", "pw", "sig", "signature", "cred", "creds", "private", "access"}
    | {"auth", "oauth"}
)
_STRONG = re.compile(
    r"token|secret|passw|pwd|passphrase|credential|apikey|bearer|authorization|authkey"
)
_CREDENTIAL_ENDINGS = ("key", "keys", "access", "private")
_NOT_CREDENTIAL_NAME = re.compile(
    r"(?i)^(?:tokeni[sz]e[rd]?|keyboard|keyword|keywords|keynote|keyframe|author|authors|"
    r"monkey|turkey|hockey|donkey|whiskey|jockey|hotkey|hotkeys|passkey|"
    r"authored|authority|secretary|passage|passenger|compass|bypass|max_tokens|num_tokens|"
    r"tokens_per_\w+|sort_key|primary_key|foreign_key|cache_key|partition_key|key_fn|keyfunc|"
    r"\w*Error|\w*Exception|inchikey)$"
)
# After the name: an optional closing quote or bracket, then an assignment operator (or a
# Markdown table's next cell holding a code span, or `'NAME', 'value'` as in
# `os.environ.get('API_KEY', '…')`).
_OPERATOR = re.compile(
    r"""(?:["'\]`]?\s*(?:==|:=|=>|<-|\+=|\?=|[=:]|\|(?=[ \t]*`))|["']\s*,(?=\s*["']))[ \t]*"""
)
# Flags and a password given after a space: `--token X`, `password 'x'`, netrc's `password x`.
_SPACED = re.compile(r"[ \t]+")
# A name that ends its line (`Here is my API key:`), the value alone on the next line.
_NEXT_LINE_VALUE = re.compile(r"[ \t]*(?::[ \t]*)?\r?\n[ \t]*([^\s\"'`]{12,200})[ \t]*(?:\r?\n|$)")
# `NASDAQ_DATA_LINK_API=…`: a name whose only credential word is a last `api` holds a key
# only if the value is machine-made (a URL, a version, a module name are not)
_API_ENDING = re.compile(r"(?:^|[_\-.]|(?<=[a-z]))(?:api|API|Api)$")
_QUOTED = re.compile(r"""[bru]?(["'`])([^"'`\n\r]{1,500})\1""")
# '#' belongs to the value (`Password=ab#1;`); a comment starts after whitespace
_BARE = re.compile(r"""[^\s"'`,;&)\]}<>|]{1,500}""")
_SCHEME = re.compile(
    r"(?i)(?:bearer|basic|token|digest|bot|apikey|api-key|key|ssws|oauth|jwt|hmac)[ \t]+"
)
_XML_ELEMENT = re.compile(r"<([A-Za-z_][\w.\-]*)>([^<\s]{1,500})</\1>")
_XML_KEY_VALUE = re.compile(
    r"""<[^>]*?\bkey=["']([^"']+)["'][^>]*?\bvalue=["']([^"']{1,500})["']"""
)
# a PEM block the engine's rule rejects (a key cut short, or one whose base64 is damaged)
# still holds key material
_PRIVATE_KEY_BLOCK = re.compile(
    r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----[\s\S]{16,}?"
    r"(?:-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\Z)"
)
_URL_USERINFO = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://([^\s:/@?#\"'<>]*):([^\s@/?#\"'<>]+)@")
_URL_TOKEN_USER = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://([^\s:/@?#\"'<>]{20,})@")
_NETRC = re.compile(
    r"(?m)(?:\bmachine[ \t]+\S+\s+|\bdefault\s+|^[ \t]*)login[ \t]+\S+\s+password[ \t]+(\S+)"
)


def is_credential_name(name: str) -> bool:
    """`api_key`, `X-Api-Key`, `clientSecret`, `protocolsSECRETkey`, `uclassifykey`."""
    if len(name) > 48 or _NOT_CREDENTIAL_NAME.match(name):
        return False  # a long run is data (base64, a hash), not a name
    lowered = name.lower()
    if _STRONG.search(lowered) or lowered.endswith(_CREDENTIAL_ENDINGS):
        return True
    return any(w.lower() in _WEAK_WORDS for w in _NAME_WORDS.findall(name))


def _names_an_api_only(name: str) -> bool:
    return len(name) > 3 and _API_ENDING.search(name) is not None


def _machine_made(value: str) -> bool:
    """Random letters and digits, no URL, path, host or version: what an `…_API` name
    needs to hold a key rather than an address."""
    if any(c in value for c in "/.:@") or not any(c.isdigit() for c in value):
        return False
    return looks_random(value, 16) and any(c.isalpha() for c in value) and not is_wordy(value)


def _accepts(
    name: str, value: str, spaced: bool = False, quoted: bool = False, scheme: bool = False
) -> bool:
    if not is_credential_name(name):
        return _names_an_api_only(name) and _machine_made(value)
    password = bool(_PASSWORD_WORD.search(name))
    strong = _STRONG.search(name.lower()) is not None
    return is_named_secret(value, password, spaced, quoted, scheme, strong)


def _kind(name: str) -> str:
    return "password_assignment" if _PASSWORD_WORD.search(name) else "secret_assignment"


def _value_after(text: str, position: int) -> tuple[int, int, bool, bool] | None:
    """The value that starts at `position`: a quoted string's inside, or a bare token;
    whether it was quoted, and whether an auth scheme (`Bearer`) stood before it."""
    quoted, scheme = _QUOTED.match(text, position), None
    if quoted:
        start, end = quoted.span(2)
    else:
        scheme = _SCHEME.match(text, position)
        bare = _BARE.match(text, scheme.end() if scheme else position)
        if not bare:
            return None
        start, end = bare.span()
        while end > start and text[end - 1] in ".:":
            end -= 1
    inner_scheme = _SCHEME.match(text, start, end)
    if inner_scheme and inner_scheme.end() < end:
        start = inner_scheme.end()
    after_scheme = inner_scheme is not None or scheme is not None
    return (start, end, quoted is not None, after_scheme) if end > start else None


def _name_start(text: str, start: int) -> int:
    while start > 0 and text[start - 1] in _NAME_CHARS:
        start -= 1
    return start


# what may stand before the credential word of a glued name: a service's name in letters
_GLUED_HEAD = re.compile(r"[A-Za-z][A-Za-z_.\-]*$|$")
# the shortest name that can hold one: a 2-letter word (`pw`) and the 12 characters that
# `is_named_secret(…, spaced=True)` asks of a value
_GLUED_MIN_NAME = 14


def _names_a_credential(name: str, begin: int, end: int) -> bool:
    """Is name[begin:end] a word of the name (`hellosignACCESS`, `codatoken-`), not letters
    that happen to spell one inside a value (`FMppwdF` in base64)?"""
    if not _GLUED_HEAD.match(name, 0, begin):
        return False
    word = name[begin:end]
    at_boundary = (
        begin == 0
        or name[begin - 1] in "-_."
        or (name[begin - 1].islower() and word[0].isupper())
        or name[end : end + 1] in ("-", "_", ":")
    )
    return at_boundary and (word.islower() or word.isupper() or word.istitle())


def _glued_value(text: str, start: int, end: int) -> Finding | None:
    """A value written onto its name, `hellosignACCESS-TOKEN-ksdf…`, `prospect-access-4d9f…`:
    what follows the last credential word, if it is a token and not more name."""
    name = text[start:end]
    word = next(
        (w for w in reversed(list(_CREDENTIAL_WORD.finditer(name.translate(_ASCII_LOWER))))
         if w.group() != "api" and _names_a_credential(name, w.start(), w.end())),
        None,
    )  # fmt: skip
    if word is None:
        return None
    tail = word.end()
    if name[tail : tail + 1] == "s":
        tail += 1  # `secrets`, `keys`; any other letter makes another word (`authorities`)
    while tail < len(name) and name[tail] in "-_.:":
        tail += 1
    value = name[tail:].rstrip(".-")
    if name[tail - 1 : tail].isalpha() or not is_named_secret(value, spaced=True):
        return None
    run_start = max(text.rfind(c, 0, start) for c in " \n\t\"'")
    if "base64," in text[run_start + 1 : start]:
        return None  # a data URI's payload
    return Finding(start + tail, start + tail + len(value), "secret_assignment")


def _named_values(text: str) -> list[Finding]:
    findings, seen_names = [], set()
    for word in _CREDENTIAL_WORD.finditer(text.translate(_ASCII_LOWER)):
        name_end = _NAME_TAIL.match(text, word.end()).end()
        if name_end in seen_names:
            continue
        seen_names.add(name_end)
        name_start = _name_start(text, word.start())
        # a glued value needs 12+ characters after a 2+ letter word: most names are shorter
        if name_end - name_start >= _GLUED_MIN_NAME:
            glued = _glued_value(text, name_start, name_end)
            if glued:
                findings.append(glued)
                continue
        raw_name = text[name_start:name_end]
        name = raw_name.strip(".-")
        if text[name_start - 1 : name_start] == "/":
            continue  # `https://auth.example.com …` names a host, not a credential
        if not is_credential_name(name) and not _names_an_api_only(name):
            continue
        next_line = _NEXT_LINE_VALUE.match(text, name_end)
        if next_line:
            value = next_line.group(1)
            if is_credential_name(name) and _accepts(name, value, spaced=True):
                findings.append(Finding(*next_line.span(1), _kind(name)))
            continue
        operator = _OPERATOR.match(text, name_end)
        spaced = None if operator else _SPACED.match(text, name_end)
        if operator:
            position = operator.end()
        elif spaced and not text.startswith("-", spaced.end()):
            position = spaced.end()
        else:
            continue
        # `--token X` and `password 'x'` are assignments; `the key 1a2b…` needs a stronger value
        loose = spaced is not None and not raw_name.startswith("-")
        if loose and text[position : position + 1] in ("'", '"'):
            loose = not _PASSWORD_WORD.search(name)
        value = _value_after(text, position)
        if value and _accepts(name, text[value[0] : value[1]], loose, value[2], value[3]):
            findings.append(Finding(value[0], value[1], _kind(name)))
    return findings


def _markup_values(text: str) -> list[Finding]:
    findings = []
    if "<" in text:
        for match in _XML_ELEMENT.finditer(text):
            if is_credential_name(match.group(1)) and _accepts(match.group(1), match.group(2)):
                findings.append(Finding(*match.span(2), _kind(match.group(1))))
        for match in _XML_KEY_VALUE.finditer(text):
            name, value = match.group(1), match.group(2)
            if is_credential_name(name) and _accepts(name, value, quoted=True):
                findings.append(Finding(*match.span(2), _kind(match.group(1))))
    if "PRIVATE KEY" in text:
        for match in _PRIVATE_KEY_BLOCK.finditer(text):
            findings.append(Finding(*match.span(), "private_key"))
    return findings


def _url_credentials(text: str) -> list[Finding]:
    findings = []
    if "://" in text:
        for match in _URL_USERINFO.finditer(text):
            if looks_like_password(match.group(2)) or looks_random(match.group(2), 8):
                findings.append(Finding(*match.span(2), "url_password"))
        for match in _URL_TOKEN_USER.finditer(text):
            if looks_random(match.group(1), 20):
                findings.append(Finding(*match.span(1), "url_token"))
    if "login" in text:
        for match in _NETRC.finditer(text):
            if looks_like_password(match.group(1)):
                findings.append(Finding(*match.span(1), "password_assignment"))
    return findings


def assignment_findings(text: str) -> list[Finding]:
    """Values given a credential name anywhere in `text`, in any of the syntaxes above."""
    return _named_values(text) + _markup_values(text) + _url_credentials(text)
