"""Indexing: the HNSW vector index and the inverted term index over all batches."""
