"""Credentials are replaced whole, every occurrence, in every syntax; look-alikes stay.

Each secret is generated fresh (tests.test_enzymes.token), so nothing real-looking is
committed. "Gone" means no 8-character piece of the secret is left anywhere.
"""

from __future__ import annotations

import base64
import string
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import span, write_lines
from tests.test_enzymes import token
from training_assets.ingestion.landing import iter_batch_candidates, land_file
from training_assets.ingestion.raw_table import raw_spans_frame
from training_assets.redaction import redact, redact_fields

UPPER = string.ascii_uppercase + "234567"
B64 = string.ascii_letters + string.digits + "+/"


def leaked_piece(secret: str, text: str, width: int = 8) -> str | None:
    """The first `width`-character piece of `secret` still in `text`, if any. Pieces
    without a letter are skipped: eight digits of a Slack token are also in a timestamp."""
    for i in range(max(1, len(secret) - width + 1)):
        piece = secret[i : i + width]
        if piece in text and any(c.isalpha() for c in piece):
            return piece
    return None


def jwt() -> str:
    def part(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    header = part(b'{"alg":"HS256","typ":"JWT"}')
    claims = part(f'{{"sub":"{token(10)}","name":"{token(8)}","iat":1516239022}}'.encode())
    return f"{header}.{claims}.{token(43, string.ascii_letters + string.digits + '_-')}"


AWS_SECRET = token(40, B64)
CASES = {
    "aws credentials file": (
        "[default]\naws_access_key_id = AKIA{id}\naws_secret_access_key = {secret}\n",
        AWS_SECRET,
    ),
    "pypi token in .pypirc": (
        "[pypi]\nusername = __token__\npassword = {secret}\n",
        "pypi-AgEIcHlwaS5vcmc" + token(70, string.ascii_letters + string.digits + "_-"),
    ),
    "bare pypi token": ("twine upload -p {secret} dist/*", "pypi-AgEIcHlwaS5vcmc" + token(60)),
    "go short assignment": ('apiKey := "{secret}"', token(32, "0123456789abcdef")),
    "yaml key": ("service:\n  secret_key: {secret}\n  region: eu-west-1", token(24)),
    "NAME=value mid log line": ("2026-11-30 INFO boot API_KEY={secret} pid=42", token(20)),
    "url query token": ("GET https://api.example.io/v1/items?token={secret}&page=2", token(26)),
    "jwt bearer header": ("curl -H 'Authorization: Bearer {secret}' https://x.io", jwt()),
    "stripe key with a long tail": ("stripe.api_key = '{secret}'", "sk_live_" + token(90)),
    "json key": ('{{"client_secret": "{secret}", "client_id": "web"}}', token(32)),
    "toml key": ('[auth]\ntoken = "{secret}"\n', token(30)),
    "shell export": ("export SERVICE_AUTH_TOKEN={secret}\nnpm run deploy", token(28)),
    "ruby hash": ("config = {{ :api_key => '{secret}' }}", token(24)),
    "r assignment": ('api_key <- "{secret}"', token(24)),
    "cli flag with space": ("mytool sync --token {secret} --verbose", token(24)),
    "cli flag with equals": ("psql --password={secret} -h db", token(12) + "!x"),
    "basic auth header": (
        "Authorization: Basic {secret}",
        base64.b64encode(token(20).encode()).decode(),
    ),
    "x-api-key header": ("X-Api-Key: {secret}", token(32, "0123456789abcdef")),
    "url userinfo": ("postgres://app:{secret}@db.internal:5432/app", token(14) + "!9"),
    "connection string": ("Server=db;User Id=sa;Password={secret};Encrypt=true", token(14) + "#1"),
    "netrc": ("machine api.x.io login bob password {secret}", token(12) + "%a"),
    "xml element": ("<settings><password>{secret}</password></settings>", token(12) + "!a"),
    "github token in prose": ("my token is ghp_{secret}, please rotate it", token(36)),
    "vendor prefix the exact rule rejects": ("ok: hf_{secret}, thanks", token(40)),
    "lone aws key id": ("rotate AKIA{secret} now", token(16, UPPER)),
    "default of an env lookup": ("os.environ.get('DJANGO_SECRET_KEY', '{secret}')", token(40, B64)),
    "markdown table cell": ("| setting | value |\n|---|---|\n| api_key | `{secret}` |", token(32)),
    "glued to its name": ("hellosignACCESS-TOKEN-{secret}", token(40)),
    "name then a space": ("walkscore TOKEN {secret}", token(32, "0123456789abcdef")),
    "unnamed random token": ("use this one: {secret} and retry", token(48)),
    "slack webhook url": (
        "post to https://hooks.slack.com/services/T{id9}/B{id9}/{secret} now",
        token(24),
    ),
    "crypt hash": ("root:$6$saltsalt${secret}:19000:0:99999:7:::", token(86, B64[:-2] + ".")),
    "md5-crypt hash alone": ("the hash is $1$Ab3dE6gH${secret} there", token(22, B64[:-2] + ".")),
    "bcrypt hash": ('hashed = "$2b$12${secret}"', token(53, B64[:-2] + ".")),
    "symbols inside a named key": (
        "DJANGO_SECRET_KEY={secret}\nDEBUG=0",
        token(20) + "&*" + token(12),
    ),
    "symbols inside a prefixed key": (
        "stripe_key: sk_live_{secret} now",
        token(24) + "#" + token(6) + "&@" + token(9),
    ),
    "base64 of a PEM private key": (
        'key = "{secret}"',
        base64.b64encode(b"-----BEGIN RSA PRIVATE KEY-----\nMIIE" + token(60).encode()).decode(),
    ),
    "openssh key body with escapes": (
        'conn(private_key_pem="\\r\\n{secret}\\r\\n")',
        "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAE" + token(40, B64) + "\\r\\n" + token(40, B64),
    ),
    "a name ending in API": ("NASDAQ_DATA_LINK_API={secret}\nDEBUG=0", token(20) + "7"),
    "value on the line after its name": ("Here is my API key:\n{secret}\nthanks", token(24) + "3"),
    "kubernetes secret manifest": (
        "apiVersion: v1\nkind: Secret\ndata:\n  db-url: {secret}\n  user: YWRtaW4=\n",
        base64.b64encode(token(24).encode()).decode(),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_ordinary_credentials_in_ordinary_places_are_gone_whole(name: str):
    template, secret = CASES[name]
    text = template.format(secret=secret, id=token(16, UPPER), id9=token(9, UPPER))
    clean, kinds = redact(text)
    assert kinds, f"{name}: nothing found in {text!r}"
    assert leaked_piece(secret, clean) is None, f"{name}: {clean!r}"
    assert "[REDACTED:" in clean


def test_the_surroundings_of_a_secret_are_kept():
    key = token(24)
    clean, kinds = redact(f"2026-11-30 INFO boot API_KEY={key} pid=42")
    assert clean == "2026-11-30 INFO boot API_KEY=[REDACTED:secret_assignment] pid=42"
    assert kinds == ["secret_assignment"]
    clean, _ = redact(f"postgres://app:{token(12)}!9@db.internal:5432/app")
    assert clean.startswith("postgres://app:[REDACTED:") and clean.endswith(
        "]@db.internal:5432/app"
    )


def test_every_occurrence_of_a_found_value_goes_even_where_no_rule_would_see_it():
    key = token(30)
    clean, kinds = redact(f"API_KEY={key}\nI pasted {key} above; is {key} still valid?")
    assert key not in clean and len(kinds) == 3 and len(set(kinds)) == 1
    fields, kinds, found = redact_fields([f"token: {key}", f"the system says {key}", None])
    assert fields[2] is None and all(key not in f for f in fields[:2])
    assert len(kinds) == 2 and list(found) == [key]


def test_offsets_hold_in_non_ascii_text_and_with_nul_bytes_and_surrogates():
    pat = "ghp_" + token(36)
    text = f"café ☕ 日本語 \x00 {pat} \ud800 ünd dann"
    clean, kinds = redact(text)
    assert clean == "café ☕ 日本語 \x00 [REDACTED:github_pat] \ud800 ünd dann" and kinds


@pytest.mark.parametrize(
    "look_alike",
    [
        "commit 3f2a9c1b4e5d6f7a8b9c0d1e2f3a4b5c6d7e8f9a",
        "revision = 'f3c1e2b4a5d6978812ab34cd56ef7890aa11bb22'",
        "uuid 123e4567-e89b-12d3-a456-426614174000",
        "request_id: 9b2f1c3e-7d4a-4e8b-a1c2-3d4e5f6a7b8c",
        "sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "color #ff8800, version v2.13.0",
        "AKIAIOSFODNN7EXAMPLE is the documented sample key",
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "AKIAXXXXXXXXEXAMPLE",
        "export GITHUB_TOKEN=${GITHUB_TOKEN}",
        'api_key = "<your-api-key>"',
        "token: xxxxxxxxxxxxxxxxxxxxxxxx",
        'password = os.environ["DB_PASSWORD"]',
        "password = getpass()",
        "tokenizer = AutoTokenizer.from_pretrained('gpt2'); max_tokens = 512",
        "postgres://user:${DB_PASSWORD}@host/db",
        "https://example.com/path?x=1&page=2",
        '"integrity": "sha512-2vqzH2Yv7T1zTq5ToB7lgSQ+5Xd6KZ2o8GhQr1pK1ldOi2Zl2q8eZgP2yfd1fWpiHbU4d1Yxv9Q1BzoPkL1Ag=="',
        "image: nginx@sha256:0d17b565c37bcbd895e9d92315a05c1c3c9a29f762b011a10c54a66cd53c9b31",
        "see src/components/UserProfileSettings2024/index.tsx and docs/api/v2/authentication.md",
        "cert: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUM=",
        'echo "$1 $2" costs $5$ or $6',
        "kind: ConfigMap\ndata:\n  mode: fast\n  level: warning\n",
        "GET /x?token=${T}&page=2&sort=asc#results",
        "BASE_API=https://api.example.com/v1\nGRAPH_API=graph-service-v2\nREST_API: v2.1.3",
        "The primary key\nis the id column, and the access token\nexpires after an hour.",
        "getUserAuthToken2FactorById(user) returns the refreshTokenHandler2024 result",
        "the key point is that the token limit is 4096 and the password reset link expires",
        "the key point is that the primary_key = 'id' and sort_key = 'created_at'",
        '<img src="data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==">',
    ],
)
def test_look_alikes_are_untouched(look_alike: str):
    assert redact(look_alike) == (look_alike, [])


def test_no_secret_reaches_raw_spans_and_a_value_found_once_goes_batch_wide(tmp_path: Path):
    pat, aws, key = "ghp_" + token(36), "AKIA" + token(16, UPPER), token(28)
    path = write_lines(
        tmp_path / "s.jsonl",
        [
            span(1, this=f"my token is {pat}", if_ok=f"rotate {aws} now"),
            '{"id": "' + pat + '", "broken": ',
            span(2, this=f"deploy with API_KEY={key}", metadata={"quality_score": 90, "k": pat}),
            # no rule can know this is a key: only the batch-wide pass removes it
            span(3, this=f"is {key} still the one?", context={"system": f"key was {key}"}),
        ],
    )
    landed, _ = land_file(path, tmp_path / "landing")
    batch = landed.batches[0]
    raw = raw_spans_frame(
        iter_batch_candidates(tmp_path / "landing", landed, batch),
        batch.key,
        landed.landed_name,
        "spans",
    )
    dumped = str(raw.rows())
    assert pat not in dumped and aws not in dumped and key not in dumped
    assert raw["redactions"][0].to_list() == ["github_pat", "aws_access_token"]
    assert len(raw["redactions"][3]) == 2
    assert raw.filter(pl.col("parse_error").is_not_null()).height == 1
