"""The quality histogram of a batch as a PNG: kept and turned-away spans, and the gate."""

from __future__ import annotations

from collections.abc import Sequence

from training_assets.figures import figure_png


def quality_histogram_png(kept: Sequence[float], below_gate: Sequence[float], gate: float) -> bytes:
    def draw(axes) -> None:
        axes.hist(
            [list(below_gate), list(kept)],
            bins=list(range(0, 105, 5)),
            stacked=True,
            color=["#d65f5f", "#6acc64"],
            label=[f"below the gate ({len(below_gate)})", f"diamonds+ ({len(kept)})"],
        )
        axes.axvline(gate, linestyle="--", color="#4a4a4a", label=f"gate {gate:g}")
        axes.set_xlabel("final quality (0–100)")
        axes.set_ylabel("spans")
        axes.set_xlim(0, 100)
        axes.legend(loc="upper left")

    return figure_png(draw, (6, 3.2))
