"""The base LLM: where its weights are, and its tokenizer (cached as plain HF files)."""
