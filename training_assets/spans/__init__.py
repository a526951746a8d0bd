"""What every stage knows about a span, below the stages: its content hash and the tag
taxonomy. (Redaction, the other shared library, is `training_assets.redaction`.)"""
