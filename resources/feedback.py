"""The feedback store ($TRAINING_WORKSPACE/feedback.db unless configured)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from training_assets.feedback.store import FeedbackStore


class FeedbackResource(dg.ConfigurableResource):
    path: str

    def open(self, create: bool = False) -> FeedbackStore:
        return FeedbackStore.open(Path(self.path), create=create)
