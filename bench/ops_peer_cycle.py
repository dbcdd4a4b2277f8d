#!/usr/bin/env python3
"""The EP half of a status cycle done by python-epo-ops-client (4.2.x), for benchmark (b).

Usage: ops_peer_cycle.py OPS_BASE --db-dir DIR NUMBER...

Fetches biblio + events + procedural-steps of every application NUMBER in one Register
request each, through the client's Throttler middleware (which paces on X-Throttling-Control),
and prints a JSON line: {"cases": n, "seconds": wall, "forbidden": 403s, "failed": other errors}.
"""

import argparse
import json
import os
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("--db-dir", required=True)
    ap.add_argument("numbers", nargs="+")
    a = ap.parse_args()

    import epo_ops
    from epo_ops.middlewares import Throttler
    from epo_ops.middlewares.throttle.storages import SQLite
    from epo_ops.models import Epodoc
    from requests.exceptions import HTTPError

    client = epo_ops.Client(
        key="sandbox-key",
        secret="sandbox-secret",
        middlewares=[Throttler(history_storage=SQLite(db_path=os.path.join(a.db_dir, "throttle.db")))],
        timeout=30.0,
    )
    client.__auth_url__ = a.base + "/auth/accesstoken"
    client.__service_url_prefix__ = a.base + "/rest-services"

    forbidden = failed = 0
    start = time.monotonic()
    for n in a.numbers:
        try:
            client.register("application", Epodoc(n), constituents=["biblio", "events", "procedural-steps"])
        except HTTPError as e:
            if e.response is not None and e.response.status_code == 403:
                forbidden += 1
            else:
                failed += 1
    seconds = time.monotonic() - start
    print(json.dumps({"cases": len(a.numbers), "seconds": seconds, "forbidden": forbidden, "failed": failed}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
