"""The earlier turns of each span's own thread, from the batch's raw_spans."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

MAX_TURNS = 256


class ThreadHistories(Sequence):
    """History of span i (oldest first) as turn dicts, built when asked for.

    Only row numbers are kept per span; the turn texts stay in the raw table's columns
    until a span is curated. A thread of n turns gives n(n-1)/2 (span, earlier turn)
    pairs, and on a 50k-span ShareGPT batch building them all up front as dicts cost
    hundreds of MB.
    """

    def __init__(self, raw: pl.DataFrame, rows: list[list[int]]) -> None:
        self._id, self._this, self._if_ok = raw["id"], raw["this"], raw["if_ok"]
        self._rows = rows

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, index):
        return [
            {"id": self._id[j], "this": self._this[j], "if_ok": self._if_ok[j]}
            for j in self._rows[index]
        ]


def thread_histories(raw: pl.DataFrame, spans: list[dict]) -> tuple[ThreadHistories, list[bool]]:
    """(history oldest first, parent missing) per span.

    `raw` holds the batch's readable rows (id, thread_id, parent_id, this, if_ok). The
    walk follows parent_id and stops where the parent's thread_id differs, so context
    never crosses threads; a cycle or a runaway chain stops at MAX_TURNS.
    """
    raw = raw.filter(pl.col("id").is_not_null())
    by_id = {
        row_id: (row, thread, parent)
        for row, (row_id, thread, parent) in enumerate(
            raw.select("id", "thread_id", "parent_id").iter_rows()
        )
    }
    rows, missing = [], []
    for span in spans:
        history, seen = [], {span["id"]}
        parent_id = span.get("parent_id")
        thread = span.get("thread_id")
        lost = bool(parent_id) and parent_id not in by_id
        while parent_id and parent_id in by_id and len(history) < MAX_TURNS:
            row, parent_thread, grandparent = by_id[parent_id]
            if parent_thread != thread or parent_id in seen:
                break
            seen.add(parent_id)
            history.append(row)
            parent_id = grandparent
        history.reverse()
        rows.append(history)
        missing.append(lost)
    return ThreadHistories(raw, rows), missing
