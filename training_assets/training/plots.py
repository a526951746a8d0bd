"""The loss curve of a run as a PNG (train loss per step, validation loss, base line)."""

from __future__ import annotations

from training_assets.figures import figure_png


def loss_curve_png(metrics: list[dict], base_val_loss: float | None) -> bytes:
    train = [(m["step"], m["loss"]) for m in metrics if "loss" in m]
    validation = [(m["step"], m["val_loss"]) for m in metrics if "val_loss" in m]

    def draw(axes) -> None:
        if train:
            axes.plot(*zip(*train, strict=True), label="train loss", linewidth=1, color="#4878d0")
        if validation:
            axes.plot(
                *zip(*validation, strict=True), "o-", label="validation loss", color="#ee854a"
            )
        if base_val_loss is not None:
            axes.axhline(
                base_val_loss, linestyle="--", color="#6a6a6a", label="base model (validation)"
            )
        axes.set_xlabel("optimizer step")
        axes.set_ylabel("loss (answer tokens)")
        axes.legend()

    return figure_png(draw, (6, 3.5))
