"""socialcredit: an open, auditable social credit registry.

Records are facts appended to a hash-chained ledger; scores, grades, lists and measures are
derived from them under published, versioned rulebooks, and every number explains itself.
"""

import os

# No part of socialcredit does linear algebra, but importing NumPy starts OpenBLAS's thread
# pool, whose idle threads spin on the cores for a while: about 0.1 s of CPU per process,
# taken from the bulk engine's threads. One thread, unless the user says otherwise.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
