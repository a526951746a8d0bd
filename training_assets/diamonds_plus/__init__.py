"""Diamonds+: curation enzymes, duplicate removal, re-scoring and the quality gate."""
