"""Enrichment: semantic tags and a complexity score for each diamond span."""
