#!/usr/bin/env python3
"""Copies our server's answers into a static docroot, for bench/read_path.sh.

Usage: read_path_fetch.py BASE_URL PATHS DOCROOT [CONCURRENCY=8]

For every path in the file PATHS (one a line, e.g. /api/v1/certificates/SMBENCH000001), asks
BASE_URL (a loopback http:// URL) for it and writes the body, byte for byte, to DOCROOT/<path>,
so that a static file server can serve the very same bodies. Every answer must be 200 with a
JSON content type; the first that is not stops the run with exit code 1. CONCURRENCY threads,
each on one keep-alive connection.
"""
import http.client
import os
import sys
import threading
import time
from urllib.parse import urlsplit


def main() -> None:
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    base, paths_file, docroot = sys.argv[1:4]
    concurrency = int(sys.argv[4]) if len(sys.argv) == 5 else 8
    url = urlsplit(base)
    if url.scheme != "http" or url.hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit(f"read_path_fetch.py: {base} is not a loopback http:// URL")
    with open(paths_file, encoding="utf-8") as f:
        paths = [line.strip() for line in f if line.strip()]
    for directory in {os.path.dirname(p) for p in paths}:
        os.makedirs(docroot + directory, exist_ok=True)

    failures: list[str] = []
    done = [0] * concurrency
    started = time.monotonic()

    def work(k: int) -> None:
        connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        for path in paths[k::concurrency]:
            if failures:
                return
            try:
                connection.request("GET", path)
                response = connection.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException) as e:
                failures.append(f"{path}: {e}")
                return
            kind = response.getheader("content-type", "")
            if response.status != 200 or "json" not in kind:
                failures.append(f"{path}: {response.status} {kind}: {body[:200]!r}")
                return
            with open(docroot + path, "wb") as out:
                out.write(body)
            done[k] += 1
        connection.close()

    workers = [threading.Thread(target=work, args=(k,)) for k in range(concurrency)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if failures:
        sys.exit(f"read_path_fetch.py: {failures[0]}")
    elapsed = time.monotonic() - started
    print(f"fetched {sum(done)} bodies in {elapsed:.1f} s ({sum(done) / elapsed:,.0f}/s)")


if __name__ == "__main__":
    main()
