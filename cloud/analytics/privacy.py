"""k-anonymity of reports: no reported number stands for fewer than k devices.

- A row whose audience (distinct devices seen at or above the passerby floor, randomized
  estimate included) is under k is suppressed whole: every metric is None, `suppressed` is True.
- In a row that survives, each device count (reach, passersby, visitors, engaged, randomized
  addresses and estimate) between 1 and k-1 is replaced by None and named in `suppressed_fields`;
  numbers derived from a suppressed count (impressions and frequency from reach, dwell statistics
  from fewer than k devices, a dwell bucket of fewer than k devices) go with it.
- Zero is reported: it stands for nobody.
Only hashed ids ever enter the core, and no report carries an id.

Residual risk (documented, not solved here): differencing two overlapping queries. The API keeps
the grain set fixed (15-minute/hour/day, aligned) which limits, but does not remove, it.
"""

from __future__ import annotations


def small(n: int | float, k: int) -> bool:
    """True if a device count must not be shown."""
    return 0 < n < k
