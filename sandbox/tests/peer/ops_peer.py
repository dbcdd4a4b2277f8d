#!/usr/bin/env python3
"""Drive the OPS sandbox with the real python-epo-ops-client (4.2.x) and print a JSON summary.

Usage: ops_peer.py BASE --db-dir DIR [--burst N] [--burst-service legal|register] [--unpaced N]

BASE is the sandbox's OPS base URL (e.g. http://127.0.0.1:8080/ops/3.2). The client's class
attributes ``__auth_url__`` and ``__service_url_prefix__`` are pointed at it on the instance.

Phases:
1. token, one Register call with biblio+events+procedural-steps, separate calls per
   constituent, a Register search (all through the client's Throttler middleware);
2. optionally an unpaced burst (no middleware) that shows the bucket really refuses;
3. a burst of N requests through the Throttler, which sleeps on the X-Throttling-Control
   headers it saw; reports 403s and the elapsed time.
"""

import argparse
import json
import os
import sys
import time
import xml.etree.ElementTree as ET

REG = "{http://www.epo.org/register}"
OPS = "{http://ops.epo.org}"


def make_client(base, middlewares):
    import epo_ops

    client = epo_ops.Client(
        key="sandbox-key",
        secret="sandbox-secret",
        middlewares=middlewares,
        timeout=30.0,
    )
    client.__auth_url__ = base + "/auth/accesstoken"
    client.__service_url_prefix__ = base + "/rest-services"
    return client


def throttler(path):
    from epo_ops.middlewares import Throttler
    from epo_ops.middlewares.throttle.storages import SQLite

    return Throttler(history_storage=SQLite(db_path=path))


def register_summary(xml_bytes):
    root = ET.fromstring(xml_bytes)
    doc = root.find(f".//{REG}register-document")
    statuses = doc.findall(f"{REG}ep-patent-statuses/{REG}ep-patent-status")
    return {
        "query": root.findtext(f".//{OPS}query"),
        "status": doc.get("status"),
        "status_code": statuses[0].get("status-code") if statuses else None,
        "status_text": statuses[0].text if statuses else None,
        "statuses": len(statuses),
        "has_biblio": doc.find(f"{REG}bibliographic-data") is not None,
        "events": len(doc.findall(f"{REG}events-data/{REG}dossier-event")),
        "steps": len(doc.findall(f"{REG}procedural-data/{REG}procedural-step")),
    }


def burst(client, service, n):
    """N requests; counts 403s and keeps the time of each."""
    from epo_ops.models import Docdb, Epodoc
    from requests.exceptions import HTTPError

    forbidden = 0
    retry_after_ms = 0
    times = []
    last_header = None
    start = time.monotonic()
    for _ in range(n):
        try:
            if service == "legal":
                resp = client.legal("publication", Docdb("2400812", "EP", "A1"))
            else:
                resp = client.register("publication", Epodoc("EP2400812"))
            last_header = resp.headers.get("X-Throttling-Control")
        except HTTPError as e:
            if e.response is not None and e.response.status_code == 403:
                forbidden += 1
                retry_after_ms = max(retry_after_ms, int(e.response.headers.get("Retry-After", "0")))
                last_header = e.response.headers.get("X-Throttling-Control")
            else:
                raise
        times.append(time.monotonic())
    elapsed = time.monotonic() - start
    gaps = [b - a for a, b in zip(times, times[1:])]
    return {
        "service": service,
        "requests": n,
        "forbidden": forbidden,
        "retry_after_ms": retry_after_ms,
        "elapsed_s": round(elapsed, 3),
        "min_gap_s": round(min(gaps), 3) if gaps else None,
        "throttling": last_header,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("base")
    p.add_argument("--db-dir", required=True, help="directory for the Throttler's SQLite files")
    p.add_argument("--burst", type=int, default=4)
    p.add_argument("--burst-service", choices=["legal", "register"], default="legal")
    p.add_argument("--unpaced", type=int, default=0, help="requests of an unpaced burst first (0: none)")
    args = p.parse_args()

    try:
        import epo_ops  # noqa: F401
        from epo_ops.__version__ import __version__
    except ImportError as e:
        print(json.dumps({"error": f"python-epo-ops-client is not installed: {e}"}))
        return 3

    from epo_ops.models import Epodoc

    out = {"client_version": __version__}
    client = make_client(args.base, [throttler(os.path.join(args.db_dir, "history.db"))])

    token = client.access_token
    out["token"] = {
        "token_type": token._content["token_type"],
        "expires_in": token._content["expires_in"],
        "all_strings": all(isinstance(v, str) for v in token._content.values()),
    }

    combined = client.register("publication", Epodoc("EP2400812"), ["biblio", "events", "procedural-steps"])
    out["register"] = register_summary(combined.content)
    out["register"]["throttling"] = combined.headers.get("X-Throttling-Control")

    separate = {}
    for constituent in ["biblio", "events", "procedural-steps"]:
        r = client.register("application", Epodoc("EP10167109"), [constituent])
        separate[constituent] = register_summary(r.content)
    out["separate"] = separate

    found = client.register_search(cql="ti=battery", range_begin=1, range_end=5)
    root = ET.fromstring(found.content)
    out["search"] = {
        "total": root.find(f".//{OPS}register-search").get("total-result-count"),
        "hits": len(root.findall(f".//{REG}register-document")),
    }

    if args.unpaced > 0:
        raw = make_client(args.base, [])
        out["unpaced"] = burst(raw, args.burst_service, args.unpaced)
        # Let the sandbox's window empty again before the paced burst.
        time.sleep(out["unpaced"]["retry_after_ms"] / 1000.0 + 0.3)

    paced = make_client(args.base, [throttler(os.path.join(args.db_dir, "burst.db"))])
    out["burst"] = burst(paced, args.burst_service, args.burst)

    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
