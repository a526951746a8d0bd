"""The `training-assets` command: ingest files, search the index, run the demo.

Only this module prints. Partition keys go to stdout, one per line, and nothing else
does, so `training-assets ingest f.jsonl | xargs -I{} dagster asset materialize ...`
works; messages and progress go to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from training_assets import launch
from training_assets.settings import ensure_workspace


def _err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _instance():
    return launch.instance()


def cmd_ingest(args: argparse.Namespace) -> int:
    from training_assets.ingestion.formats import FormatError
    from training_assets.ingestion.landing import land_file
    from training_assets.partitions import batch_partitions

    landing = ensure_workspace() / "landing"
    instance = _instance()
    failures = 0
    for name in args.files:
        try:
            landed, new = land_file(
                Path(name), landing, args.format, args.batch_size, args.max_line_bytes
            )
        except (FormatError, OSError) as exc:
            failures += 1
            _err(f"error: {exc}")
            continue
        instance.add_dynamic_partitions(batch_partitions.name, landed.keys)
        state = "landed" if new else "already landed (same content)"
        _err(
            f"{name}: {state} as {landed.landed_name}; format {landed.format}; "
            f"{landed.records} records, {landed.spans} span candidates in {len(landed.batches)} batch(es)"
        )
        for key in landed.keys:
            print(key, flush=True)
    return 1 if failures else 0


def cmd_search(args: argparse.Namespace) -> int:
    from training_assets.definitions import build_resources
    from training_assets.indexing.search import search

    workspace = ensure_workspace()
    resources = build_resources(str(workspace))
    embedder = resources["embedder"].get() if args.mode != "keyword" else None
    try:
        hits = search(
            workspace, embedder, args.query, args.k, args.mode, resources["workspace"].tables
        )
    except FileNotFoundError as exc:
        _err(f"error: {exc}")
        return 1
    if args.json:
        print(json.dumps([hit.__dict__ for hit in hits], ensure_ascii=False, indent=2))
        return 0
    for rank, hit in enumerate(hits, 1):
        question = " ".join(hit.question.split())[:100]
        answer = " ".join(hit.answer.split())[:160]
        print(
            f"{rank}. [{hit.score:.3f}] {hit.span_id}  ({hit.batch})  tags: {', '.join(hit.tags) or '-'}"
        )
        print(f"   Q: {question}")
        print(f"   A: {answer}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    training = {
        "max_steps": args.max_steps,
        "packing": args.packing or None,
        "precision": args.precision,
        "checkpoint_every": args.checkpoint_every,
        "nproc": args.nproc,
    }
    evaluation = {"max_golden_examples": args.golden, "max_new_tokens": args.max_new_tokens}
    ops = {
        "training_dataset": {"max_seq_len": args.max_seq_len} if args.max_seq_len else {},
        "lora_checkpoints": {k: v for k, v in training.items() if v},
        "checkpoint_evals": {k: v for k, v in evaluation.items() if v},
    }
    _, success = launch.run_job("training_job", ops, say=_err)
    return 0 if success else 1


def cmd_deploy(args: argparse.Namespace) -> int:
    ops = {
        "gguf_export": {
            "model_name": args.model_name,
            "outtype": args.outtype,
            "export_adapter": args.adapter,
        },
        "ollama_modelfile": {"system_prompt": args.system} if args.system is not None else {},
    }
    _, success = launch.run_job("deploy_job", ops, say=_err)
    return 0 if success else 1


def cmd_materialize(args: argparse.Namespace) -> int:
    from training_assets.partitions import batch_partitions, keys_in_range

    keys = list(args.partition or [])
    selections: dict = {}  # batch -> the stale assets to re-run (all when absent)
    if args.partition_range or args.stale:
        registered = _instance().get_dynamic_partitions(batch_partitions.name)
        if args.partition_range:
            try:
                keys += keys_in_range(registered, args.partition_range)
            except ValueError as exc:
                _err(f"error: {exc}")
                return 2
        if args.stale:
            from sensors.schedules import batches_to_curate
            from training_assets.definitions import build_definitions

            graph = build_definitions(str(ensure_workspace())).resolve_asset_graph()
            due = batches_to_curate(_instance(), ensure_workspace(), graph)
            for key in registered:
                if key in due and key not in keys:
                    keys.append(key)
                    selections[key] = due[key].assets
                    _err(f"{key}: {due[key].why}")
    keys = list(dict.fromkeys(keys))
    if not keys:
        _err("nothing to materialize")
        return 0
    outcomes = launch.materialize_batches(keys, selections, _err)
    return 0 if all(ok for _, _, ok in outcomes) else 1


def cmd_worker(args: argparse.Namespace) -> int:
    """A Celery worker for TRAINING_EXECUTOR=celery, with the code location's own settings."""
    import shutil
    import subprocess

    import yaml

    from training_assets.executors import DEFAULT_QUEUE, celery_config

    home = _instance().root_directory
    config_path = os.path.join(home, "celery", "worker.yaml")
    os.makedirs(os.path.dirname(config_path), exist_ok=True)
    with open(config_path, "w") as handle:
        yaml.safe_dump({"execution": {"config": celery_config()}}, handle)
    ensure_workspace()  # the workers build the code location from TRAINING_WORKSPACE
    launcher = shutil.which("dagster-celery", path=os.path.dirname(sys.executable))
    command = [launcher or "dagster-celery", "worker", "start", "-A", "dagster_celery.app"]
    command += ["-y", config_path, "--loglevel", args.loglevel]
    for queue in args.queue or [DEFAULT_QUEUE]:
        command += ["-q", queue]
    command += ["--", "--concurrency", str(args.concurrency)]
    _err(f"celery worker: {' '.join(command)}")
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    return subprocess.call(command, env=env)


def cmd_demo(args: argparse.Namespace) -> int:
    from training_assets.demo import run_demo

    return run_demo(args.conversations)


def cmd_workspace(args: argparse.Namespace) -> int:
    from training_assets.rotation.rotate import rotation_candidates, unfinished_purges
    from training_assets.rotation.usage import Budget, human, workspace_usage

    root = ensure_workspace()
    budget = Budget.from_env()
    usage = workspace_usage(root)
    width = max(len(name) for name in usage.components)
    for name, size in sorted(usage.components.items(), key=lambda item: -item[1]):
        print(f"{name:<{width}}  {human(size):>9}  {size / budget.bytes:6.1%}")
    print(f"{'total':<{width}}  {human(usage.total):>9}  {usage.share_of(budget):6.1%}")
    print(
        f"budget {human(budget.bytes)} (TRAINING_WORKSPACE_BUDGET); rotation above "
        f"{budget.threshold:.0%}, down to {budget.target:.0%}; "
        f"{len(rotation_candidates(root))} batch(es) can rotate, "
        f"{len(unfinished_purges(root))} purge(s) unfinished"
    )
    return 0


def cmd_rotate(args: argparse.Namespace) -> int:
    ops = {"rotate_workspace": {"force": args.force, "limit": args.limit}}
    _, success = launch.run_job("rotation_job", ops, say=_err)
    return 0 if success else 1


def cmd_kernel_rebuild(args: argparse.Namespace) -> int:
    from training_assets.atomic import write_json_atomic
    from training_assets.kernel.files import kernel_path, read_kernel
    from training_assets.kernel.ledger import LedgerError
    from training_assets.kernel.rebuild import rebuild_kernel_state

    _instance()
    from training_assets.definitions import build_resources

    embedder = build_resources()["embedder"].get()
    try:
        state = rebuild_kernel_state(Path(args.archive), lambda texts: embedder.encode(texts)[0])
    except (LedgerError, FileNotFoundError) as exc:
        _err(f"error: {exc}")
        return 1
    root = ensure_workspace()
    kept = read_kernel(root, state["batch"])
    same = kept is not None and kept["merkle_root"] == state["merkle_root"]
    _err(
        f"{state['batch']}: Merkle root {state['merkle_root']} "
        + (
            "matches the kept kernel state"
            if same
            else "— no kept kernel state to compare"
            if kept is None
            else f"DIFFERS from the kept kernel state ({kept['merkle_root']})"
        )
    )
    if args.write:
        if kept is not None and not same:
            _err("error: not writing over a kernel state with a different root")
            return 1
        archive = kept.get("archive") if kept else None
        write_json_atomic(
            kernel_path(root, state["batch"]), state | ({"archive": archive} if archive else {})
        )
    print(json.dumps(state, indent=2, sort_keys=True))
    return 0 if kept is None or same else 1


def _feedback_store(create: bool = False):
    from training_assets.definitions import build_resources

    return build_resources()["feedback"].open(create=create)


def cmd_prefer(args: argparse.Namespace) -> int:
    run = {
        "method": args.method,
        "max_steps": args.max_steps,
        "beta": args.beta,
        "checkpoint_every": args.checkpoint_every,
    }
    evaluation = {"max_golden_examples": args.golden, "max_new_tokens": args.max_new_tokens}
    ops = {
        "preference_checkpoints": {k: v for k, v in run.items() if v},
        "preference_evals": {k: v for k, v in evaluation.items() if v},
    }
    _, success = launch.run_job("preference_job", ops, say=_err)
    return 0 if success else 1


def _record_file(store, path: Path) -> int:
    """Record every interaction of an NDJSON file (one object per line, the fields of
    `record`), all or none: a bad line is reported with its number and nothing is written."""
    from training_assets.feedback.store import Interaction

    interactions, problems = [], []
    fields = set(Interaction.__dataclass_fields__)
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                if not isinstance(data, dict):
                    raise ValueError("expected a JSON object")
                unknown = sorted(set(data) - fields)
                if unknown:
                    raise ValueError(f"unknown field(s) {unknown}")
                interaction = Interaction(**data)
                interaction.validate()
                interactions.append(interaction)
            except (ValueError, TypeError) as exc:
                problems.append(f"{path}:{number}: {exc}")
    if problems:
        for problem in problems:
            _err(f"error: {problem}")
        _err(
            f"nothing recorded: {len(problems)} bad line(s) of {len(problems) + len(interactions)}"
        )
        return 2
    ids = store.record_all(interactions)
    for row_id in ids:
        print(row_id)
    _err(f"recorded {len(ids)} interactions from {path}")
    return 0


def cmd_feedback(args: argparse.Namespace) -> int:
    from training_assets.feedback.analysis import feedback_patterns, feedback_stats
    from training_assets.feedback.export import export_feedback
    from training_assets.feedback.store import FeedbackStoreError, Interaction
    from training_assets.partitions import batch_partitions

    try:
        store = _feedback_store(create=args.action == "init" or getattr(args, "create", False))
    except FeedbackStoreError as exc:
        _err(f"error: {exc}")
        return 2
    with store:
        if args.action == "init":
            _err(f"feedback store ready at {store.path} (schema {store.schema_version})")
        elif args.action == "record" and args.from_jsonl:
            return _record_file(store, Path(args.from_jsonl))
        elif args.action == "record":
            missing = [f"--{n}" for n in ("query", "response", "model_version", "feedback")
                       if getattr(args, n) is None]  # fmt: skip
            if missing:
                _err(f"error: record needs {', '.join(m.replace('_', '-') for m in missing)} "
                     "(or --from-jsonl FILE)")  # fmt: skip
                return 2
            try:
                row_id = store.record(
                    Interaction(
                        query=args.query,
                        response=args.response,
                        model_version=args.model_version,
                        feedback=args.feedback,
                        score=args.score,
                        intent=args.intent,
                        confidence=args.confidence,
                        session=args.session,
                    )
                )
            except ValueError as exc:
                _err(f"error: {exc}")
                return 2
            print(row_id)
        elif args.action == "stats":
            rows = list(store.rows())
            print(json.dumps(feedback_stats(rows, args.period, args.session), indent=2))
        elif args.action == "patterns":
            print(json.dumps(feedback_patterns(list(store.rows()), args.min_count), indent=2))
        elif args.action == "preferences":
            from training_assets.definitions import build_resources
            from training_assets.feedback.freshness import new_negative_feedback

            resources = build_resources()
            negative, newest = new_negative_feedback(store, resources["workspace"].path / "runs")
            threshold = resources["regeneration_policy"].preference_threshold
            judged = {v: 0 for v in ("positive", "negative", "neutral")}
            for row in store.rows():
                judged[row["feedback"]] += 1
            print(
                json.dumps(
                    {
                        "judged": judged,
                        "new_negative": negative,
                        "newest_id": newest,
                        "preference_threshold": threshold,
                        "preference_run_due": negative >= threshold,
                    },
                    indent=2,
                )
            )
        elif args.action == "export":
            landed, ids = export_feedback(store, ensure_workspace() / "landing", args.min_score)
            if landed is None:
                _err("nothing new to export")
                return 0
            _instance().add_dynamic_partitions(batch_partitions.name, landed.keys)
            _err(f"exported {len(ids)} interactions as {landed.landed_name}")
            for key in landed.keys:
                print(key)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from training_assets.indexing.search import MODES
    from training_assets.ingestion.formats import FORMATS
    from training_assets.ingestion.landing import DEFAULT_BATCH_SIZE
    from training_assets.ingestion.records import DEFAULT_MAX_RECORD_BYTES

    parser = argparse.ArgumentParser(prog="training-assets", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--verbose", action="store_true", help="library progress bars and warnings on"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    ingest = commands.add_parser("ingest", help="land files and register their batch partitions")
    ingest.add_argument("files", nargs="+", metavar="FILE")
    ingest.add_argument("--format", default="auto", choices=("auto", *FORMATS))
    ingest.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH_SIZE,
        help="spans per batch (default %(default)s)",
    )
    ingest.add_argument(
        "--max-line-bytes",
        type=int,
        default=DEFAULT_MAX_RECORD_BYTES,
        help="longer lines are quarantined unparsed (default %(default)s)",
    )
    ingest.set_defaults(run=cmd_ingest)

    search = commands.add_parser("search", help="nearest spans to a text")
    search.add_argument("query")
    search.add_argument("-k", type=int, default=5)
    search.add_argument("--mode", default="semantic", choices=MODES)
    search.add_argument("--json", action="store_true")
    search.set_defaults(run=cmd_search)

    materialize = commands.add_parser(
        "materialize", help="run the curation job for batches, in this process"
    )
    chosen = materialize.add_argument_group("batches (any mix)")
    chosen.add_argument("--partition", action="append", metavar="KEY")
    chosen.add_argument(
        "--partition-range",
        metavar="START...END",
        help="every batch registered from START to END, both included (a backfill)",
    )
    chosen.add_argument(
        "--stale",
        action="store_true",
        help="every batch never curated or curated under another code version",
    )
    materialize.set_defaults(run=cmd_materialize)

    train = commands.add_parser(
        "train", help="build the dataset from diamonds+, train a LoRA run, evaluate, pick the best"
    )
    train.add_argument(
        "--max-steps", type=int, default=0, help="0: the settings file's, else one epoch"
    )
    train.add_argument("--max-seq-len", type=int, default=0, help="0: the asset default (1024)")
    train.add_argument("--packing", action="store_true")
    train.add_argument(
        "--precision",
        default=None,
        choices=("auto", "fp32", "bf16", "fp16"),
        help="default: the settings file's, else auto",
    )
    train.add_argument(
        "--nproc",
        type=int,
        default=0,
        help="data-parallel processes (torchrun, DDP; one per GPU); 0: the settings file's, else 1",
    )
    train.add_argument("--checkpoint-every", type=int, default=0, help="0: the default (10)")
    train.add_argument("--golden", type=int, default=0, help="golden examples; 0: 64")
    train.add_argument("--max-new-tokens", type=int, default=0, help="golden answers; 0: 256")
    train.set_defaults(run=cmd_train)

    prefer = commands.add_parser(
        "prefer",
        help="preference-tune the best SFT checkpoint on the feedback store (DPO / KTO), evaluate",
    )
    prefer.add_argument("--method", default=None, choices=("auto", "dpo", "kto"))
    prefer.add_argument(
        "--max-steps", type=int, default=0, help="0: the settings file's, else 2 epochs"
    )
    prefer.add_argument("--beta", type=float, default=0.0, help="0: the default (0.1)")
    prefer.add_argument("--checkpoint-every", type=int, default=0, help="0: the default (10)")
    prefer.add_argument("--golden", type=int, default=0, help="golden examples; 0: 64")
    prefer.add_argument("--max-new-tokens", type=int, default=0, help="golden answers; 0: 256")
    prefer.set_defaults(run=cmd_prefer)

    deploy = commands.add_parser(
        "deploy", help="export the best checkpoint as GGUF, write its Modelfile, push to Ollama"
    )
    deploy.add_argument("--model-name", default="training-assets")
    deploy.add_argument("--outtype", default="f16", choices=("f16", "q8_0"))
    deploy.add_argument(
        "--adapter", action="store_true", help="also write the LoRA as adapter.gguf"
    )
    deploy.add_argument(
        "--system", default=None, help="system prompt (default: the template's own)"
    )
    deploy.set_defaults(run=cmd_deploy)

    workspace = commands.add_parser("workspace", help="disk usage by component, and the budget")
    workspace.set_defaults(run=cmd_workspace)

    rotate = commands.add_parser(
        "rotate", help="archive, verify and purge the oldest batches (the rotation job)"
    )
    rotate.add_argument("--force", action="store_true", help="rotate whatever the usage")
    rotate.add_argument("--limit", type=int, default=0, help="at most N batches (0: no limit)")
    rotate.set_defaults(run=cmd_rotate)

    kernel = commands.add_parser("kernel", help="kernel states")
    kernel_commands = kernel.add_subparsers(dest="kernel_command", required=True)
    rebuild = kernel_commands.add_parser(
        "rebuild", help="recompute a batch's kernel state from its archive; check its Merkle root"
    )
    rebuild.add_argument("archive", metavar="ARCHIVE")
    rebuild.add_argument(
        "--write", action="store_true", help="replace the kept kernel state (same root only)"
    )
    rebuild.set_defaults(run=cmd_kernel_rebuild)

    feedback = commands.add_parser("feedback", help="the feedback store")
    actions = feedback.add_subparsers(dest="action", required=True)
    actions.add_parser("init", help="create the store (feedback.db in the workspace)")
    record = actions.add_parser("record", help="record one interaction; prints its id")
    record.add_argument("--query")
    record.add_argument("--response")
    record.add_argument("--model-version")
    record.add_argument("--feedback", choices=("positive", "negative", "neutral"))
    record.add_argument(
        "--from-jsonl",
        metavar="FILE",
        help="record every line of an NDJSON file (the same fields); all or none",
    )
    record.add_argument("--score", type=float, help="0–5")
    record.add_argument("--intent")
    record.add_argument("--confidence", type=float, help="0–1")
    record.add_argument("--session")
    record.add_argument("--create", action="store_true", help="create the store if missing")
    stats = actions.add_parser("stats", help="satisfaction overall and by model version")
    stats.add_argument("--period", default="all", choices=("session", "today", "all"))
    stats.add_argument("--session")
    patterns = actions.add_parser("patterns", help="intents and traits of good / bad answers")
    patterns.add_argument("--min-count", type=int, default=5)
    actions.add_parser(
        "preferences",
        help="judgements for preference tuning: new negatives since the last preference run",
    )
    export = actions.add_parser("export", help="land good interactions as spans; prints keys")
    export.add_argument("--min-score", type=float, default=3.0)
    feedback.set_defaults(run=cmd_feedback)

    worker = commands.add_parser(
        "worker", help="a Celery worker that runs steps when TRAINING_EXECUTOR=celery"
    )
    worker.add_argument(
        "--queue", action="append", help="queue(s) to serve (default: dagster; e.g. gpu)"
    )
    worker.add_argument("--concurrency", type=int, default=2, help="steps at once (default 2)")
    worker.add_argument("--loglevel", default="INFO")
    worker.set_defaults(run=cmd_worker)

    demo = commands.add_parser("demo", help="ingest a slice of ShareGPT and run the whole graph")
    demo.add_argument("--conversations", type=int, default=300)
    demo.set_defaults(run=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.verbose:
        from training_assets.quiet import be_verbose

        be_verbose()
    from training_assets.settings import SettingsError

    try:
        return args.run(args)
    except SettingsError as exc:
        _err(f"error: {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
