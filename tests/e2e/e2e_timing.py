"""Timing allowances shared by the end-to-end tests."""

# Room for a flush to run after its timer fires (scheduling, snapshot, IndexedDB commit) on a
# loaded 2-core machine. A bound on the crash window, not a speed target.
FLUSH_ALLOWANCE_S = 1.5
