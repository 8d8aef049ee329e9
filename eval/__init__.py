"""Evaluation: candidate-to-gold alignment, P/R/F1 and AUC metrics, threshold calibration, plots, reports."""
