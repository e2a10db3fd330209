# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Background lanes of the frame loop: work done in order on a thread beside the engine.

A replay's frame loop hands each prediction to two lanes (:class:`Lane`): one writes the
output bag, one scores against ground truth. Each runs its jobs one at a time, in the order
they were put, on its own thread, while the loop reads, decodes and runs the engine on the
next frames; on a GPU machine the CPU work of writing and scoring then overlaps the device's
work instead of adding to it. A lane holds at most ``depth`` jobs: the loop waits
(back-pressure, counted as stage ``wait``) when one falls behind, so memory stays bounded.

The first exception a job raises stops the lane (later jobs are dropped) and is raised again
in the loop's thread at its next :meth:`Lane.put`, :meth:`Lane.join` or :meth:`Lane.close`.
An ``inline`` lane runs each job at once in the caller's thread instead (for work bound to
its thread, such as a sqlite3 connection).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

#: Jobs a lane holds by default before :meth:`Lane.put` waits.
LANE_DEPTH = 2


class Lane:
    """One background thread that runs jobs (callables) in order; errors come back to the caller.

    ``name`` names the thread. ``depth`` is how many jobs may wait before :meth:`put` blocks.
    ``inline``: no thread; :meth:`put` runs the job (its exception is raised at once).
    """

    def __init__(self, name: str, depth: int = LANE_DEPTH, inline: bool = False) -> None:
        self.inline = inline
        self._jobs: queue.Queue[Callable[[], None] | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        if not inline:
            self._thread.start()

    def put(self, job: Callable[[], None]) -> None:
        """Queue ``job``, waiting while the lane is full; raise the lane's error, if any."""
        self._raise()
        if self.inline:
            job()
        else:
            self._jobs.put(job)

    def join(self) -> None:
        """Wait until every job put so far has run; raise the lane's error, if any."""
        self._jobs.join()
        self._raise()

    def close(self) -> None:
        """Run the jobs still queued, end the thread; raise the lane's error, if any.

        Safe to call twice; a job that fails while the lane drains is raised here.
        """
        if self._thread.is_alive():
            self._jobs.put(None)
            self._thread.join()
        self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _work(self) -> None:
        failed = False
        while True:
            job = self._jobs.get()
            try:
                if job is None:
                    return
                if not failed:
                    job()
            except BaseException as err:  # handed to the loop's thread, raised there
                self._error, failed = err, True
            finally:
                self._jobs.task_done()
