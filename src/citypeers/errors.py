"""Errors that tell a data engineer which feed, which payload or row, and what to do."""

from __future__ import annotations


class CitypeersError(Exception):
    """Base class: every error the platform raises on purpose."""


class FeedError(CitypeersError):
    """A feed sent something that cannot be used as a whole (bad JSON, truncated file, ...).

    The raw payload is already kept in the landing zone when this is raised, so the message
    points at it and says what to do next.
    """

    def __init__(self, feed_id: str, problem: str, *, where: str = "", action: str = "", retryable: bool = True):
        self.feed_id = feed_id
        self.retryable = retryable  # False: a retry cannot help (a 404, a redirect loop); fail at once
        self.problem = problem
        self.where = where
        self.action = action
        parts = [f"feed '{feed_id}': {problem}"]
        if where:
            parts.append(f"at {where}")
        if action:
            parts.append(f"what to do: {action}")
        super().__init__(" — ".join(parts))


class ContractError(CitypeersError):
    """Data broke a contract (a critical expectation failed); nothing was published."""


class ConfigError(CitypeersError):
    """feeds.yml or the environment is wrong."""


class BackfillError(CitypeersError):
    """Some intervals of a backfill failed; every interval ran, and each failure is listed."""

    def __init__(self, feed_id: str, interval_count: int, failures: list[tuple[str, str]], results: list[dict]):
        self.failures = failures
        self.results = results
        listed = "\n".join(f"  {period}: {error}" for period, error in failures)
        super().__init__(
            f"backfill of feed '{feed_id}': {len(failures)} of {interval_count} intervals failed (the others "
            f"were published):\n{listed}\nwhat to do: fix each cause, then rerun the backfill or "
            "`citypeers ingest` for those intervals"
        )
