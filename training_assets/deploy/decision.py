"""When a better checkpoint should replace the deployed model (the best_checkpoint_sensor's rule).

Deploy when `best_checkpoint` names a checkpoint (so no golden metric's interval says it
regresses against the deployed model), that checkpoint is not the one deployed, and its
answer-loss gain over the reference — measured on the golden examples, which played no
part in choosing it — has an interval whose lower bound is above `margin` (nats per
answer token; 0 by default: the interval excludes 0). A gain whose interval reaches 0 is
noise and deploys nothing.
"""

from __future__ import annotations


def deploy_decision(best: dict, deployed: dict | None, margin: float) -> tuple[bool, str]:
    if best.get("checkpoint") is None:
        return False, "no eligible checkpoint (every one regressed on the golden set)"
    if deployed is not None and deployed.get("checkpoint_path") == best.get("path"):
        return False, f"{best['run_id']}/{best['checkpoint']} is already deployed"
    label = f"{best['run_id']}/{best['checkpoint']} against {best['reference']}"
    confirmation = (best.get("comparison") or {}).get("confirmation") or {}
    interval = confirmation.get("interval")
    if interval is None:
        return False, f"{label}: no loss gain with an interval (materialize best_checkpoint again)"
    gain = (
        f"{confirmation['split']} loss gain {interval['estimate']:+.4f} "
        f"[{interval['low']:+.4f}, {interval['high']:+.4f}] at {interval['level']:.0%}"
    )
    if interval["low"] <= margin:
        return False, f"{label}: {gain}, lower bound not above {margin}: not deployed"
    return True, f"{label}: {gain}: better"
