"""How long a polling loop waits between looks while it finds nothing (no HTTP here).

The event drain (where it has no change stream) and the webhook sender look for work on a timer,
to catch what another process wrote; what their own process writes wakes them at once. An idle
process used to look at its interval forever: on the wire tier that was about 5 ms of CPU a
second per API process, two thirds of all its idle work (issue 21; docs/benchmarks.md). Now each
empty look doubles the wait, up to a ceiling, and finding work or being woken brings it back to
the interval: as prompt as before while there is work, and a few looks a minute when idle. What
a process writes itself is never delayed; what another process writes waits at most the ceiling.
"""

IDLE_CEILING = 8  # an idle loop looks at least once every 8 intervals


class IdlePacing:
    """The wait before a loop's next look: `interval` while looks find work, doubling after each
    empty one up to `ceiling` (seconds; by default IDLE_CEILING intervals)."""

    def __init__(self, interval: float, ceiling: float | None = None) -> None:
        self.interval = interval
        self.ceiling = max(interval, interval * IDLE_CEILING if ceiling is None else ceiling)
        self.wait = interval

    def found(self, work: bool) -> None:
        """After a look (or a wake): back to the interval if there was work, else wait longer."""
        self.wait = self.interval if work else min(self.wait * 2, self.ceiling)
