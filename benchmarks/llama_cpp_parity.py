"""Does the deployed GGUF answer as the model did? llama.cpp against transformers on every
golden prompt (issue 19).

Reads the workspace a run left (`make demo`, or any training run): best_checkpoint and
the golden split of training_dataset. The checkpoint is merged into the base in fp32
(transformers' greedy answers, one prompt at a time, are the reference), exported as F16
and Q8_0 with the project's own exporter, and each file answers through llama.cpp:

1. `tokens`: the prompt rendered by `apply_chat_template`, its ids fed as they are;
2. `chat`: llama-cpp-python's OpenAI-compatible server, `/v1/chat/completions` with the
   messages only (the GGUF's own chat template), its text re-tokenized to compare.

F16 should agree token for token; Q8_0 is reported by common prefix and first divergence.

    python benchmarks/llama_cpp_parity.py --max-new-tokens 64
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from report import run_stamp, save_report

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--prompts", type=int, default=64, help="golden prompts, at most")
    parser.add_argument("--outtypes", default="f16,q8_0")
    parser.add_argument("--no-server", action="store_true", help="skip the chat endpoint")
    args = parser.parse_args()

    import polars as pl

    from training_assets.base_model.locate import load_causal_lm, load_tokenizer, locate_base_model
    from training_assets.deploy.gguf_export import base_metadata, export_model, hf_metadata
    from training_assets.deploy.merge import llama_shape, merge_checkpoint
    from training_assets.deploy.parity import (
        compare,
        llama_cpp_answers,
        server_chat_answers,
        summarise,
        transformers_answers,
    )
    from training_assets.documents import read_document
    from training_assets.lm.generation import stop_token_ids
    from training_assets.settings import BASE_MODEL
    from training_assets.training.dataset import chat_prompt_ids

    workspace = Path(os.environ.get("TRAINING_WORKSPACE", "workspace")).resolve()
    best = read_document(workspace, "best_checkpoint")
    dataset_file = workspace / "training_dataset.parquet"
    if not dataset_file.exists():
        print(f"no {dataset_file}: run `make demo` first", file=sys.stderr)
        return 2
    golden = (
        pl.read_parquet(dataset_file)
        .filter(pl.col("split") == "golden")
        .sort("id")
        .head(args.prompts)
    )
    conversations = [m[:-1] for m in golden["messages"].to_list()]
    location = locate_base_model(BASE_MODEL.get())
    cache = workspace / "models"
    tokenizer = load_tokenizer(location, cache)
    model = load_causal_lm(location, cache).eval()
    source = "base model"
    if best and best.get("path"):
        model = merge_checkpoint(model, Path(best["path"]))
        source = f"{best['run_id']}/{best['checkpoint']}"
    prompts = [chat_prompt_ids(tokenizer, c) for c in conversations]
    stop_ids = stop_token_ids(model, tokenizer)
    print(f"{len(prompts)} golden prompts, {source}; transformers answers…", file=sys.stderr)
    started = time.perf_counter()
    expected = transformers_answers(model, stop_ids, prompts, args.max_new_tokens)
    timings = {"transformers": time.perf_counter() - started}
    metadata = (
        base_metadata(Path(location.path) / location.gguf_file)
        if location.gguf_file
        else hf_metadata(model.config, tokenizer)
    )
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for outtype in args.outtypes.split(","):
            target = export_model(
                {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()},
                llama_shape(model.config),
                metadata,
                Path(folder) / f"{outtype}.gguf",
                "parity",
                outtype,
            )
            started = time.perf_counter()
            got = llama_cpp_answers(target, stop_ids, prompts, args.max_new_tokens)
            timings[f"llama_cpp_{outtype}"] = time.perf_counter() - started
            tokens = [compare(e, g) for e, g in zip(expected, got, strict=True)]
            results[f"{outtype}_tokens"] = summarise(tokens)
            print(f"{outtype} tokens: {results[f'{outtype}_tokens']}", file=sys.stderr)
            if args.no_server:
                continue
            started = time.perf_counter()
            texts = server_chat_answers(target, conversations, args.max_new_tokens)
            timings[f"server_{outtype}"] = time.perf_counter() - started
            chat = [
                compare(e, tokenizer(t, add_special_tokens=False)["input_ids"])
                for e, t in zip(expected, texts, strict=True)
            ]
            results[f"{outtype}_chat"] = summarise(chat)
            results[f"{outtype}_chat"]["text_identical"] = sum(
                tokenizer.decode(e, skip_special_tokens=True).strip() == t.strip()
                for e, t in zip(expected, texts, strict=True)
            )
            print(f"{outtype} chat: {results[f'{outtype}_chat']}", file=sys.stderr)
    report = {
        **run_stamp(),
        "model": source,
        "prompts": len(prompts),
        "max_new_tokens": args.max_new_tokens,
        "results": results,
        "seconds": timings,
    }
    save_report(report, f"llama_cpp_parity-{report['date']}")
    print("| file | way in | token-identical | median common prefix | first divergences |")
    print("|---|---|---|---|---|")
    for name, r in results.items():
        outtype, way = name.rsplit("_", 1)
        print(
            f"| {outtype.upper()} | {way} | {r['identical']}/{r['prompts']} "
            f"| {r['median_common_prefix']} | {r['first_divergences'][:12]} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
