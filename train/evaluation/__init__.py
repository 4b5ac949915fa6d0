"""Evaluation: metrics, `muser eval` on the published datasets, held-out reports, the data card."""
