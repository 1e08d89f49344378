"""Timing allowances shared by the end-to-end tests."""

# Room for a flush to run after its timer fires (scheduling, snapshot, IndexedDB commit) on a
# loaded 2-core machine. A bound on the crash window, not a speed target.
FLUSH_ALLOWANCE_S = 1.5

# A flush or restore of a test's few MiB that has not settled in this long never will: the bound
# that turns a hang into a failure. A bound on waiting, not a speed target.
HANG_S = 20
