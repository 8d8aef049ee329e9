"""Experiments behind docs/results.md; run each as ``python -m experiments.<name>`` from the repository root."""
