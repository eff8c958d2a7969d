"""Coordinator and worker loops."""

import time
from concurrent.futures import Future

POLL_INTERVAL_S = 1.0


class ZephyrContext:
    """Runs stages on a pool of workers."""

    def __init__(self, max_workers: int = 2) -> None:
        self.max_workers = max_workers

    def wait_all(self, futures: list[Future]) -> list:
        results = []
        for future in futures:
            results.append(future.result())
        return results

    def wait_idle(self, is_idle) -> None:
        while not is_idle():
            time.sleep(POLL_INTERVAL_S)
