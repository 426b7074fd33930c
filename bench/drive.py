#!/usr/bin/env python3
"""Sends a fixed number of GET requests over keep-alive connections, for bench/scan_profile.sh.

Unlike wrk, which runs for a time, this sends exactly as many requests as asked, so a profile
(callgrind's instruction counts) can be divided by the number of requests. Like wrk in
bench/read_path.sh, it sends no User-Agent header.

Usage: drive.py HOST:PORT PATHS_FILE COUNT [CONNECTIONS=50] [SKIP=0] [ACCEPT=application/json]
  Requests lines SKIP+1 .. SKIP+COUNT of PATHS_FILE (each once, in order, over CONNECTIONS
  connections); a file shorter than that is reused from its start (for /healthz). Prints
  "requests=N errors=N seconds=S" and exits 1 when an answer was not 2xx.
"""

import asyncio
import sys
import time


async def worker(host, port, queue, accept, counts):
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while True:
            try:
                path = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: {accept}\r\n\r\n".encode())
            status_line = await reader.readline()
            parts = status_line.split()
            status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
            length = 0
            chunked = False
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
                elif name.strip().lower() == "transfer-encoding" and "chunked" in value.lower():
                    chunked = True
            if chunked:
                while True:
                    size = int((await reader.readline()).strip() or b"0", 16)
                    await reader.readexactly(size + 2)
                    if size == 0:
                        break
            else:
                await reader.readexactly(length)
            counts[0] += 1
            if not 200 <= status < 300:
                counts[1] += 1
    finally:
        writer.close()


async def main():
    address, paths_file, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    connections = int(sys.argv[4]) if len(sys.argv) > 4 else 50
    skip = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    accept = sys.argv[6] if len(sys.argv) > 6 else "application/json"
    host, _, port = address.rpartition(":")
    with open(paths_file) as f:
        paths = [line.strip() for line in f if line.strip()]
    queue = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(paths[(skip + i) % len(paths)])
    counts = [0, 0]
    start = time.monotonic()
    await asyncio.gather(*(worker(host, int(port), queue, accept, counts) for _ in range(connections)))
    print(f"requests={counts[0]} errors={counts[1]} seconds={time.monotonic() - start:.2f}")
    return 1 if counts[1] else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
