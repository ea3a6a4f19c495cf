"""Settings for `benchmarks/assign.py` only: the project's, plus a do-nothing view.

Never used in production; the extra URL lives in `benchmarks/bench_urls.py`.
"""

from crowdsite.settings import *  # noqa: F403

ROOT_URLCONF = "benchmarks.bench_urls"
