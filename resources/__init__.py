"""ConfigurableResources: the workspace, the embedding model, the base LLM, Ollama and the
feedback store."""

from resources.base_model import BaseModelResource
from resources.embedder import EmbedderResource
from resources.feedback import FeedbackResource
from resources.io_manager import AtomicPolarsParquetIOManager
from resources.json_io_manager import JsonIOManager
from resources.ollama import OllamaResource
from resources.workspace import WorkspaceResource, default_workspace_root

__all__ = [
    "AtomicPolarsParquetIOManager",
    "BaseModelResource",
    "EmbedderResource",
    "FeedbackResource",
    "JsonIOManager",
    "OllamaResource",
    "WorkspaceResource",
    "default_workspace_root",
]
