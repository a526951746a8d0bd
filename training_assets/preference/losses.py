"""Preference losses on sequence log-probabilities (sums over the answer's tokens).

- **DPO** (Rafailov et al., 2023), for pairs (chosen, rejected) of one prompt:
  −log σ(β·[(π_c − ref_c) − (π_r − ref_r)]).
- **KTO** (Ethayarajh et al., 2024), for unpaired answers marked desirable or not: with
  r = π − ref and z₀ = max(0, KL estimate), a desirable answer costs
  λ_D·(1 − σ(β·(r − z₀))) and an undesirable one λ_U·(1 − σ(β·(z₀ − r))). z₀ is the
  batch's mean log-ratio on *mismatched* (prompt, answer) pairs (each prompt with
  another example's answer), detached, as in the paper and TRL.

Both return the loss and the implied rewards β·r, which the run logs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def dpo_loss(
    chosen: torch.Tensor,
    rejected: torch.Tensor,
    ref_chosen: torch.Tensor,
    ref_rejected: torch.Tensor,
    beta: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(mean loss, chosen rewards, rejected rewards)."""
    chosen_reward = beta * (chosen - ref_chosen)
    rejected_reward = beta * (rejected - ref_rejected)
    loss = -F.logsigmoid(chosen_reward - rejected_reward)
    return loss.mean(), chosen_reward.detach(), rejected_reward.detach()


def kto_loss(
    policy: torch.Tensor,
    reference: torch.Tensor,
    desirable: torch.Tensor,
    kl_policy: torch.Tensor,
    kl_reference: torch.Tensor,
    beta: float,
    desirable_weight: float = 1.0,
    undesirable_weight: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(mean loss, rewards, the KL estimate z₀); `desirable` is a bool tensor."""
    z0 = (kl_policy - kl_reference).mean().clamp(min=0).detach()
    ratio = policy - reference
    good = desirable_weight * (1 - torch.sigmoid(beta * (ratio - z0)))
    bad = undesirable_weight * (1 - torch.sigmoid(beta * (z0 - ratio)))
    loss = torch.where(desirable, good, bad)
    return loss.mean(), (beta * ratio).detach(), z0
