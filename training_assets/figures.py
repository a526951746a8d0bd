"""Matplotlib figures rendered to PNG bytes, off-screen (the Agg backend)."""

from __future__ import annotations

import io
from collections.abc import Callable


def figure_png(draw: Callable[[object], None], size: tuple[float, float]) -> bytes:
    """Draw on fresh axes with `draw(axes)` (legend included), add a light grid, and
    return the figure as PNG bytes; the figure is closed."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(figsize=size, dpi=100)
    try:
        draw(axes)
        axes.grid(alpha=0.3)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        plt.close(figure)
