"""ConfigurableResources: the workspace, the embedding model, the base LLM, Ollama, the
feedback store, the experiment tracker (MLflow), and the policies of the loop that runs
alone (deploy margin, regeneration thresholds, the workspace budget)."""

from resources.base_model import BaseModelResource
from resources.embedder import EmbedderResource
from resources.feedback import FeedbackResource
from resources.io_manager import AtomicPolarsParquetIOManager
from resources.json_io_manager import JsonIOManager
from resources.ollama import OllamaResource
from resources.policies import (
    DeployPolicyResource,
    RegenerationPolicyResource,
    RotationBudgetResource,
)
from resources.tracking import ExperimentTrackerResource
from resources.workspace import WorkspaceResource

__all__ = [
    "AtomicPolarsParquetIOManager",
    "BaseModelResource",
    "DeployPolicyResource",
    "EmbedderResource",
    "ExperimentTrackerResource",
    "FeedbackResource",
    "JsonIOManager",
    "OllamaResource",
    "RegenerationPolicyResource",
    "RotationBudgetResource",
    "WorkspaceResource",
]
