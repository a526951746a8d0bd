"""When a better checkpoint should replace the deployed model (the best_checkpoint_sensor's rule).

Deploy when `best_checkpoint` names a checkpoint (so it already passed the golden-set
no-regression rule against the deployed model), that checkpoint is not the one deployed,
and its validation loss is lower than the reference's (the deployed model, or the base
before any deploy, measured in the same `checkpoint_evals`) by more than `margin`.
Equal or worse deploys nothing.
"""

from __future__ import annotations


def deploy_decision(best: dict, deployed: dict | None, margin: float) -> tuple[bool, str]:
    if best.get("checkpoint") is None:
        return False, "no eligible checkpoint (every one regressed on the golden set)"
    if deployed is not None and deployed.get("checkpoint_path") == best.get("path"):
        return False, f"{best['run_id']}/{best['checkpoint']} is already deployed"
    reference = best["scores"][best["reference"]]
    gain = reference["val_loss"] - best["val_loss"]
    label = f"{best['run_id']}/{best['checkpoint']} val loss {best['val_loss']:.4f} vs {best['reference']} {reference['val_loss']:.4f}"
    if gain <= margin:
        return False, f"{label}: not better by more than {margin}"
    return True, f"{label}: better by {gain:.4f}"
