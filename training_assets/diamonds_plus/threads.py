"""The earlier turns of each span's own thread, from the batch's raw_spans."""

from __future__ import annotations

import polars as pl

MAX_TURNS = 256


def thread_histories(raw: pl.DataFrame, spans: list[dict]) -> tuple[list[list[dict]], list[bool]]:
    """(history oldest first, parent missing) per span.

    `raw` holds the batch's readable rows (id, thread_id, parent_id, this, if_ok). The
    walk follows parent_id and stops where the parent's thread_id differs, so context
    never crosses threads; a cycle or a runaway chain stops at MAX_TURNS.
    """
    by_id = {row["id"]: row for row in raw.iter_rows(named=True) if row["id"] is not None}
    histories, missing = [], []
    for span in spans:
        history, seen = [], {span["id"]}
        parent_id = span.get("parent_id")
        thread = span.get("thread_id")
        lost = bool(parent_id) and parent_id not in by_id
        while parent_id and parent_id in by_id and len(history) < MAX_TURNS:
            parent = by_id[parent_id]
            if parent["thread_id"] != thread or parent_id in seen:
                break
            seen.add(parent_id)
            history.append({"id": parent_id, "this": parent["this"], "if_ok": parent["if_ok"]})
            parent_id = parent["parent_id"]
        history.reverse()
        histories.append(history)
        missing.append(lost)
    return histories, missing
