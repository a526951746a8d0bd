"""ConfigurableResources: where the workspace lives and which embedding model runs."""

from resources.embedder import EmbedderResource
from resources.io_manager import AtomicPolarsParquetIOManager
from resources.workspace import WorkspaceResource, default_workspace_root

__all__ = [
    "AtomicPolarsParquetIOManager",
    "EmbedderResource",
    "WorkspaceResource",
    "default_workspace_root",
]
