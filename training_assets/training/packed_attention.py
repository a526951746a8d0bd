"""Attention for packed micro-batches: each example attends to itself only, one at a time.

A packed micro-batch is a single row holding its examples back to back, with
`cu_seq_lens_q` / `cu_seq_lens_k` marking where each starts: the convention of the varlen
flash-attention kernels, which transformers' `flash_attention_2` reads as it is. Where
those kernels do not exist (CPU), transformers' SDPA path would instead build a
block-diagonal L×L mask and run the unfused masked kernel over the whole row; the
`segment_sdpa` implementation registered here runs SDPA's fused causal kernel on each
example's own span, so nothing is spent on attention across examples. Calls without
`cu_seq_lens_q` (evaluation, generation, padded batches) take the stock SDPA path.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

SEGMENT_SDPA = "segment_sdpa"


def segment_sdpa_attention(
    module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    cu_seq_lens_q: torch.Tensor | None = None,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    """query (1, heads, L, d), key/value (1, kv_heads, L, d) → ((1, L, heads, d), None)."""
    if cu_seq_lens_q is None or query.shape[0] != 1:
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    repeats = query.shape[1] // key.shape[1]
    if repeats > 1:  # grouped-query attention: SDPA's own GQA path is not fused on every device
        key = key.repeat_interleave(repeats, dim=1)
        value = value.repeat_interleave(repeats, dim=1)
    bounds = cu_seq_lens_q.tolist()
    pieces = [
        F.scaled_dot_product_attention(
            query[:, :, start:end],
            key[:, :, start:end],
            value[:, :, start:end],
            dropout_p=dropout,
            scale=scaling,
            is_causal=True,
        )
        for start, end in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    return torch.cat(pieces, dim=2).transpose(1, 2).contiguous(), None


def use_segment_attention(model) -> bool:
    """Switch a model on SDPA or eager attention to `segment_sdpa`; True if it was switched.

    Flash-attention models are left alone: they read `cu_seq_lens_q` themselves.
    """
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    if model.config._attn_implementation not in ("sdpa", "eager"):
        return False
    AttentionInterface.register(SEGMENT_SDPA, segment_sdpa_attention)
    AttentionMaskInterface.register(SEGMENT_SDPA, sdpa_mask)
    model.set_attn_implementation(SEGMENT_SDPA)
    return True
