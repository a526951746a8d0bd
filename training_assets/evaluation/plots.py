"""Per-example deltas of a candidate against its reference, as a PNG for the UI."""

from __future__ import annotations

from training_assets.evaluation.paired import Interval
from training_assets.figures import figure_png


def paired_deltas_png(deltas: list[float], interval: Interval, label: str, title: str) -> bytes:
    """One bar per example (sorted; above 0 = the candidate ahead), the mean and its
    interval as a band."""
    ordered = sorted(deltas)

    def draw(axes) -> None:
        colours = ["#6acc64" if d > 0 else "#d65f5f" if d < 0 else "#8c8c8c" for d in ordered]
        axes.bar(range(len(ordered)), ordered, color=colours, width=1.0)
        axes.axhline(0, color="#333333", linewidth=0.8)
        axes.axhspan(
            interval.low,
            interval.high,
            color="#4878d0",
            alpha=0.25,
            label=f"mean {interval.text()} ({interval.level:.0%})",
        )
        axes.axhline(interval.estimate, color="#4878d0", linewidth=1.2)
        axes.set_xlabel(f"{len(ordered)} examples, sorted")
        axes.set_ylabel(label)
        axes.set_title(title, fontsize=9)
        axes.legend(fontsize=8)

    return figure_png(draw, (6, 3.0))
