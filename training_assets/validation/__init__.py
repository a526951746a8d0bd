"""Validation: schema rules, credential redaction and the diamond/quarantine split."""
