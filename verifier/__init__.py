"""verifier: make LLM relation extraction trustworthy (generate -> verify with CACRE -> filter -> eval)."""

__version__ = "0.1.0"
