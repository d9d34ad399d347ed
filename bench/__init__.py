"""Benchmarks: every figure a ratio against a reference approach measured in the same run.

They run on local files only (the offline e5-small, ../shared/data, tiny models), so
the hubs are switched off unless the caller says otherwise: a lookup that cannot be
answered would otherwise add the hub client's retries and back-off to the timings
(about 20 s per missing split).
"""

import os

for _variable in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_variable, "1")
