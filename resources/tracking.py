"""The experiment tracker as a resource: MLflow, by default a SQLite store in the workspace."""

from __future__ import annotations

import logging
from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

OFF = ("off", "none", "false", "0")


class ExperimentTrackerResource(dg.ConfigurableResource):
    """`tracking_uri`: empty for `sqlite:///<workspace>/mlflow.db` (`mlflow ui
    --backend-store-uri` reads it, no server needed), any MLflow tracking URI (a server,
    Databricks, another database), or `off`. `experiment` holds the training runs;
    `registered_model` names the registry entries (`<name>-lora`, `<name>-gguf`)."""

    root: str
    tracking_uri: str = ""
    experiment: str = "training-assets"
    registered_model: str = "training-assets"

    _tracker: object | None = PrivateAttr(default=None)
    _failed: bool = PrivateAttr(default=False)

    @property
    def enabled(self) -> bool:
        return self.tracking_uri.strip().lower() not in OFF

    @property
    def uri(self) -> str:
        if self.tracking_uri.strip():
            return self.tracking_uri.strip()
        return f"sqlite:///{(Path(self.root) / 'mlflow.db').resolve()}"

    def get(self):
        """The Tracker, or None when tracking is off or its store cannot be reached (said
        once in the log: the run goes on without it)."""
        if not self.enabled or self._failed:
            return None
        if self._tracker is None:
            from training_assets.tracking import Tracker

            try:
                self._tracker = Tracker(
                    self.uri, self.experiment, Path(self.root) / "mlflow-artifacts"
                )
            except Exception as error:
                self._failed = True
                logging.getLogger(__name__).warning(
                    f"MLflow tracking off for this run: {self.uri}: {type(error).__name__}: {error}"
                )
                return None
        return self._tracker

    def model_name(self, kind: str) -> str:
        return f"{self.registered_model}-{kind}"
