"""Helper process: a real Iris controller (marin-iris's in-process ``LocalCluster``) on
loopback, for the tests. Run as ``python iris_controller_main.py --url-file F``.

It writes the controller URL to ``F`` once the controller answers, then serves until
stdin closes or it gets SIGTERM, and stops the cluster. Workers are threads of this
process; each task is a subprocess with this process's environment plus the job's.

marin-iris 0.2.20 refuses jobs from clients built more than 14 days ago
(``FRESHNESS_WINDOW``, checked by the controller on root submissions); the wheel's build
date is fixed, so the window is widened here, in the controller's own process.

``--production-user NAME`` may submit ``--priority production`` jobs (the tier flags), as
marin's CI account can: unlisted users are capped at the interactive band.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import sys
import threading


def grant_production(cluster: object, user: str) -> None:
    """Let ``user`` submit production-band jobs (``iris user budget set`` does the same)."""
    from iris.cluster.controller import writes
    from iris.rpc import job_pb2
    from rigging.timing import Timestamp

    db = cluster._controller._db  # noqa: SLF001 - LocalCluster exposes no admin client
    now = Timestamp.now()
    with db.transaction() as tx:
        writes.ensure_user(tx, user, now)
        writes.set_user_budget(tx, user, 10**15, job_pb2.PRIORITY_BAND_PRODUCTION, now)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url-file", required=True)
    parser.add_argument("--max-workers", type=int, default=2)
    parser.add_argument("--production-user", default="perfgate")
    args = parser.parse_args()

    import iris.cluster.controller.service as service

    service.FRESHNESS_WINDOW = dt.timedelta(days=36500)
    from iris.cluster.backends.local.cluster import LocalCluster, make_local_cluster_config

    cluster = LocalCluster(make_local_cluster_config(max_workers=args.max_workers))
    url = cluster.start()
    grant_production(cluster, args.production_user)
    tmp = args.url_file + ".tmp"
    with open(tmp, "w") as fh:
        fh.write(url)
    os.replace(tmp, args.url_file)

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())

    def watch_stdin() -> None:
        sys.stdin.read()  # returns when the parent closes our stdin (or dies)
        done.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    done.wait()
    cluster.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
