"""Metrics: pure functions from predictions and gold to scores, all in percent (0-100).

One module per family (classification, tagging, qa, retrieval) plus the XTREME
roll-up; task kinds call them directly, so importing one does not load the others'
dependencies (faiss, seqeval).
"""
