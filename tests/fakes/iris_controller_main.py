"""Helper process: a real Iris controller (marin-iris's in-process ``LocalCluster``) on
loopback, for the tests. Run as ``python iris_controller_main.py --url-file F``.

It writes the controller URL to ``F`` once the controller answers, then serves until
stdin closes or it gets SIGTERM, and stops the cluster. Workers are threads of this
process; each task is a subprocess with this process's environment plus the job's.

Both generations are supported: marin-iris 0.2.20 (``iris.cluster.backends.local.cluster``,
``FRESHNESS_WINDOW`` in ``controller.service``) and 0.2.227 (``iris.cluster.local_cluster``,
``FRESHNESS_WINDOW`` in ``controller.jobs``). Each refuses jobs from clients built more than
14 days ago (checked by the controller on root submissions); the wheel's build date is
fixed, so the window is widened here, in the controller's own process.

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
    from iris.rpc import job_pb2

    controller = cluster._controller  # noqa: SLF001 - LocalCluster exposes no admin client
    band = job_pb2.PRIORITY_BAND_PRODUCTION
    if hasattr(controller, "set_user_budget"):  # 0.2.227: through the controller's service
        from iris.rpc import controller_pb2
        from rigging.server_auth import VerifiedIdentity, identity_scope

        request = controller_pb2.Controller.SetUserBudgetRequest(
            user_id=user, budget_limit=10**15, max_band=band
        )
        with identity_scope(VerifiedIdentity(user_id="local-admin", role="admin")):
            controller.set_user_budget(request)
        return
    from iris.cluster.controller import writes
    from rigging.timing import Timestamp

    now = Timestamp.now()
    with controller._db.transaction() as tx:  # noqa: SLF001 - 0.2.20
        writes.ensure_user(tx, user, now)
        writes.set_user_budget(tx, user, 10**15, band, now)


def local_cluster_api():
    """(LocalCluster, make_local_cluster_config) of the installed marin-iris, with the
    client freshness window widened."""
    try:  # 0.2.227
        import iris.cluster.controller.jobs as freshness
        from iris.cluster.local_cluster import LocalCluster, make_local_cluster_config
    except ImportError:  # 0.2.20
        import iris.cluster.controller.service as freshness
        from iris.cluster.backends.local.cluster import LocalCluster, make_local_cluster_config
    freshness.FRESHNESS_WINDOW = dt.timedelta(days=36500)
    return LocalCluster, make_local_cluster_config


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url-file", required=True)
    parser.add_argument("--max-workers", type=int, default=2)
    parser.add_argument("--production-user", default="perfgate")
    args = parser.parse_args()

    LocalCluster, make_local_cluster_config = local_cluster_api()
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
