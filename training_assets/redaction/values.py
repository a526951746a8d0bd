"""What a credential value looks like: random enough, not a placeholder, one whole token.

These tests decide, for a value an engine rule or an assignment found, whether it is
redacted and how far the redaction reaches. They are shared by every detector so that
"placeholder" and "token" mean the same thing everywhere.
"""

from __future__ import annotations

import math
import re
from collections import Counter

# Documentation keys and fill-in markers, anywhere in the value.
_PLACEHOLDER = re.compile(
    r"EXAMPLE|(?i:x{6,}|\*{4,}|#{6,}|\.{3}|…|<[^>]*>|\[[A-Z_:]+\]|\$\{|\{\{|\{[a-z_]+\}|%\(|%s\b|"
    r"your[_-]|^your[A-Z]|changeme|change[_-]me|placeholder|"
    r"dummy|redacted|replace[_-]?(?:me|with|this)|insert[_-]|fake[_-]?(?:key|token|secret)|"
    r"^(?:none|null|nil|undefined|true|false|empty|required|optional|string|str|secret|password|"
    r"passwd|token|api[_-]?key|key|value|test|sample|foo|bar|baz|qwerty|admin|abc123|"
    r"(?:string|str|int|integer|bool|boolean|number|float|text|varchar|bytes|object|any)[!?]?|"
    r"(?:my|the|a)[_-]?(?:secret|password|token|key))$)"
)
# Keys that providers print in their own documentation; a user quoting the docs leaks nothing.
DOCUMENTED_KEYS = frozenset(
    {
        "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
        "pk_test_TYooMQauvdEDq54NiTphI7jx",
        "sk_test_BQokikJOvBiI2HlWgH4olfQ2",
    }
)
_REPEATED = re.compile(r"^(.)\1+$")
_FILE_PATH = re.compile(
    r"^(?:~|\.{1,2})?/|^[A-Za-z]:\\|\.(?:pem|key|crt|cer|p12|pfx|json|ya?ml|txt|env)$"
)
# dates, times, versions, amounts: digits and separators, no letters
_DATE_OR_NUMBER = re.compile(r"^v?[\d\-:/.,+_]+[TZ]?[\d\-:/.,+_]*$")
_ENVIRONMENT_REFERENCE = re.compile(r"^\$[A-Za-z_{(]|^%[A-Za-z_]+%$|^process\.env\.|^os\.")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z_.]*(?:\(\)?|\[)?$")
_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")
_CODE_EXPRESSION = re.compile(r"[()\[\]{}]")

# The characters a token can hold; "+/=.~" only when the found value already uses them.
_TOKEN_CORE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_TOKEN_EXTRA = frozenset("+/.~%")
# A password-like key may hold symbols (`wwf*2#86t64!fgh…&*gg76q`): a token that runs on
# through them with no space is one value, outside a URL; `&name=` starts a query parameter.
_SYMBOLS_WITHIN = frozenset("#&@*$!^%")
_QUERY_PARAMETER = re.compile(r"&[\w.\-]+=")


def shannon_entropy(value: str) -> float:
    """Bits per character of `value` under its own character frequencies."""
    if not value:
        return 0.0
    counts = Counter(value)
    total = len(value)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


def character_classes(value: str) -> int:
    """How many of lower case, upper case, digits and symbols `value` mixes."""
    return (
        any(c.islower() for c in value)
        + any(c.isupper() for c in value)
        + any(c.isdigit() for c in value)
        + any(not c.isalnum() for c in value)
    )


def is_placeholder(value: str) -> bool:
    """A documentation marker, an environment reference or a provider's published key."""
    return (
        value in DOCUMENTED_KEYS
        or _PLACEHOLDER.search(value) is not None
        or _REPEATED.search(value) is not None
        or _ENVIRONMENT_REFERENCE.search(value) is not None
    )


def is_scrappy(value: str) -> bool:
    """Mixed-case letters that fall into scraps (`qG0HsQigfBND…`), not into the words of
    a camel-case name (`getAccessTokenHandler`): random keys, seen without digits too."""
    runs = _WORDS.findall(value)
    return (
        len(value) >= 20
        and any(c.isupper() for c in value)
        and any(c.islower() for c in value)
        and bool(runs)
        and sum(map(len, runs)) / len(runs) < 3.5
    )


def is_identifier(value: str) -> bool:
    """A name in code (`self.token`, `API_TOKEN`, `getAccessToken()`), not random letters:
    a dotted or snake-case name, or a few camel-case words; random mixed case breaks into
    many scraps."""
    value = value.replace("\\", "")  # Markdown escapes: `api\_key`
    if not _IDENTIFIER.match(value):
        return False
    return "." in value or "_" in value or len(_WORDS.findall(value)) <= 4


def looks_random(value: str, min_length: int = 12) -> bool:
    """A machine-made secret: long enough, mixed characters, high entropy, not code."""
    if len(value) < min_length or any(c.isspace() for c in value):
        return False
    if is_identifier(value) or _CODE_EXPRESSION.search(value) or is_placeholder(value):
        return False
    classes = character_classes(value)
    entropy = shannon_entropy(value)
    if all(c in "0123456789abcdef" for c in value.lower()):
        # hex keys are common (API keys, HMAC secrets) and carry 4 bits per character at best
        return len(value) >= 16 and entropy >= 2.8 and not value.isdigit()
    return classes >= 2 and entropy >= 3.0


def is_wordy(value: str, tags: bool = True) -> bool:
    """`iredmail-tls-secret`: words joined, not a token; with `tags`, short tags count as
    words too (`refresh-handler-v2`), for a value that only a bare space introduced."""
    parts = [p for p in re.split(r"[-_.:/]+", value) if p]
    return len(parts) >= 2 and all(p.isalpha() or (tags and len(p) <= 4) for p in parts)


def is_named_secret(
    value: str,
    password: bool = False,
    spaced: bool = False,
    quoted: bool = False,
    scheme: bool = False,
    strong: bool = False,
) -> bool:
    """A value given a credential name (`walkscore TOKEN abcd1234…`, `key: 9f8e…`).

    The name already says it is a secret, so the value need not look random: documented
    sample values and sequential keys go too. Left alone: placeholders, references, code,
    plain words, URLs, dates and version numbers. A quoted value is a string, never a
    variable, so under a strong name (token, secret, credential, not just `key`) it may be
    a word; a password may be a plain word. After a bare space (`key 1234…`, no `=`
    or `:`), prose is likelier, so the value must be 12+ characters with a digit.
    """
    if any(c.isspace() for c in value) or "://" in value or is_placeholder(value):
        return False
    if _CODE_EXPRESSION.search(value):
        return False
    if scheme:  # what follows `Bearer` is a token, whatever it looks like
        return len(value) >= 16 or (len(value) >= 8 and character_classes(value) >= 2)
    if password and not spaced and "." not in value:
        return len(value) >= 6
    if is_identifier(value) and not (strong and quoted and len(value) >= 8):
        return False  # a quoted `"cut_in_vehicle"` under `key:` is a name; under `token:`, not
    if value.isdigit():
        return len(value) >= 16
    if _DATE_OR_NUMBER.match(value) or _FILE_PATH.search(value) or is_wordy(value, tags=False):
        return False  # a date, a path (`--key /etc/tls/key.pem`), a name (`iredmail-tls-secret`)
    if spaced:
        if is_scrappy(value) and shannon_entropy(value) >= 4.0:
            return True
        return len(value) >= 12 and any(c.isdigit() for c in value) and not is_wordy(value)
    if len(value) < (6 if password else 8):
        return False
    return character_classes(value) >= 2


def looks_like_password(value: str) -> bool:
    """A value assigned to a password name: people's passwords are short and not random,
    so only placeholders, references, code and plain single words are left alone."""
    if len(value) < 6 or any(c.isspace() for c in value) or is_placeholder(value):
        return False
    if is_identifier(value) or _CODE_EXPRESSION.search(value):
        return False
    return character_classes(value) >= 2


_URL_RUN_END = frozenset(" \t\r\n\"'`<>()[]{}|\\")
_CRYPT_HEAD = re.compile(r"\$[0-9a-z]{1,2}\$(?:rounds=\d+\$)?[./A-Za-z0-9]{0,22}\$$")


def widen_to_url(text: str, start: int, end: int) -> tuple[int, int]:
    """A secret in a URL's path (`https://hooks…/services/T0/B0/XXXX`, a Teams webhook)
    makes the whole URL the credential; one in the userinfo or the query keeps the URL."""
    left = start
    while left > 0 and text[left - 1] not in _URL_RUN_END:
        left -= 1
    scheme = text.find("://", left, start)
    if scheme == -1:
        return start, end
    path = text.find("/", scheme + 3, start)
    if path == -1 or "?" in text[scheme:start] or "@" in text[scheme:path]:
        return start, end
    right = end
    while right < len(text) and text[right] not in _URL_RUN_END:
        right += 1
    while right > end and text[right - 1] in ".,;:":
        right -= 1
    return left, right


def _through_symbols(text: str, start: int, end: int, allowed: frozenset[str]) -> int:
    if end >= len(text) or text[end] not in _SYMBOLS_WITHIN:
        return end
    run_start = start
    while run_start > 0 and not text[run_start - 1].isspace():
        run_start -= 1
    if "://" in text[run_start:end]:
        return end  # `user:pass@host`: the host is not the password
    joined = allowed | _SYMBOLS_WITHIN
    while end < len(text) and text[end] in _SYMBOLS_WITHIN:
        if _QUERY_PARAMETER.match(text, end):
            break
        end += 1
        while end < len(text) and text[end] in joined and not _QUERY_PARAMETER.match(text, end):
            end += 1
    return end


def widen_to_token(text: str, start: int, end: int) -> tuple[int, int]:
    """Grow [start, end) to the whole token it sits in, so no prefix or tail survives.

    The token's alphabet is the found value's own: letters, digits, '_' and '-', plus any
    of '+/.~%' the value already contains (a JWT's dots, a base64 key's slashes). '='
    padding joins on the right only, and a sentence's closing '.' is left out.
    """
    found, original_end = text[start:end], end
    allowed = _TOKEN_CORE | (_TOKEN_EXTRA & set(found))
    while start > 0 and text[start - 1] in allowed:
        start -= 1
    while end < len(text) and text[end] in allowed:
        end += 1
    while end < len(text) and text[end] == "=":
        end += 1
    end = _through_symbols(text, start, end, allowed)
    while end - 1 > start and end > original_end and text[end - 1] == ".":
        end -= 1
    if start > 0 and text[start - 1] == "$":
        crypt = _CRYPT_HEAD.search(text, max(0, start - 40), start)
        if crypt:
            start = crypt.start()  # `$6$salt$hash`: the salt and scheme go with the hash
    return start, end
