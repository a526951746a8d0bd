"""The quality histogram of a batch as a PNG: kept and turned-away spans, and the gate."""

from __future__ import annotations

import io
from collections.abc import Sequence


def quality_histogram_png(kept: Sequence[float], below_gate: Sequence[float], gate: float) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 3.2), dpi=100)
    bins = list(range(0, 105, 5))
    axes.hist(
        [list(below_gate), list(kept)],
        bins=bins,
        stacked=True,
        color=["#d65f5f", "#6acc64"],
        label=[f"below the gate ({len(below_gate)})", f"diamonds+ ({len(kept)})"],
    )
    axes.axvline(gate, linestyle="--", color="#4a4a4a", label=f"gate {gate:g}")
    axes.set_xlabel("final quality (0–100)")
    axes.set_ylabel("spans")
    axes.set_xlim(0, 100)
    axes.legend(loc="upper left")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()
