"""Named status codes, written once and used everywhere.

Two different questions get two different enums: what a finite-difference stencil saw
around x (:class:`Stencil`, internal to the schemes), and what the verdict is at one
entry of a derivative (:class:`Status`, in results, reports and mutations).
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["Status", "Stencil", "STATUS_NAMES"]


class Status(IntEnum):
    """Verdict at one entry of a derivative."""

    OK = 0
    MISMATCH = 1
    KINK = 2  # at a kink, and a valid one-sided slope or subgradient
    KINK_MISMATCH = 3  # at a kink, and outside the range of the one-sided slopes
    UNRESOLVED = 4  # the oracle has no finite value here (a step rounded away, the loss's domain): no verdict

    @property
    def label(self) -> str:
        """The name results and reports print (``"kink_mismatch"``)."""
        return self.name.lower()

    @property
    def at_kink(self) -> bool:
        return self in (Status.KINK, Status.KINK_MISMATCH)

    @property
    def wrong(self) -> bool:
        return self in (Status.MISMATCH, Status.KINK_MISMATCH)


STATUS_NAMES = tuple(s.label for s in Status)
"""Labels indexed by code: ``STATUS_NAMES[Status.KINK] == "kink"``."""


class Stencil(IntEnum):
    """What one finite-difference pass saw at one entry."""

    SMOOTH = 0  # f is smooth over the whole stencil: the estimate and its bars hold
    KINK = 1  # a kink at x itself: the one-sided slopes are the oracle
    UNCLEAN = 2  # something inside the stencil (a kink near x): take a closer look
