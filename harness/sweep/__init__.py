"""``harness sweep``: a whole study as independent jobs, run locally or on a Ray cluster."""
