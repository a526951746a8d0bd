"""Embedding: sentence-transformers vectors with a content-addressed cache."""
