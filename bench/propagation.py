#!/usr/bin/env python3
"""Revocation propagation across instances: for each round, warm every instance's cache with a
GET, change the certificate's state on the first instance, and time from that change's 200 to
every instance answering the new state. Prints each figure's median and p99.

Usage: propagation.py TOKEN NUMBER ROUNDS BASE_URL [BASE_URL ...]
Rounds alternate suspend and reinstate, so one certificate serves any number of rounds.
"""
import datetime
import json
import statistics
import sys
import time
import urllib.request


def call(method, url, token=None, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status, json.loads(response.read())


def state(base, number):
    return call("GET", f"{base}/api/v1/certificates/{number}")[1]["status"]["state"]


def main():
    token, number, rounds, bases = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
    until = (datetime.date.today() + datetime.timedelta(days=30)).isoformat()
    delays = []
    for round_number in range(rounds):
        suspend = round_number % 2 == 0
        expected = "suspended" if suspend else "valid"
        for base in bases:  # warm every cache with the old state
            state(base, number)
        body = {"action": "suspend", "reason": "propagation benchmark", "until": until} if suspend else {"action": "reinstate"}
        status, _ = call("POST", f"{bases[0]}/api/v1/certificates/{number}/status", token, body)
        assert status == 200
        changed = time.perf_counter()
        waiting = set(bases)
        deadline = changed + 10
        while waiting:
            for base in list(waiting):
                if state(base, number) == expected:
                    waiting.discard(base)
            if time.perf_counter() > deadline:
                sys.exit(f"round {round_number}: {sorted(waiting)} still stale after 10 s")
        delays.append((time.perf_counter() - changed) * 1000)
    delays.sort()
    p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
    print(f"propagation to all {len(bases)} instances over {rounds} changes: "
          f"median {statistics.median(delays):.2f} ms, p99 {p99:.2f} ms, max {delays[-1]:.2f} ms (target p99 <= 50 ms)")


if __name__ == "__main__":
    main()
