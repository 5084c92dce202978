"""Webhooks (issue 28): what the outbox costs a push, and how fast events reach a receiver.

`make run`'s gunicorn and delivery worker (tests/e2e/live_server.py, `webhook_worker=True`), one tablet
pushing batches of 50 consultations one after another, a receiver on loopback verifying every
delivery with the `standardwebhooks` package (tests/webhook_receiver.py). In one run, on one database:
- push rate with no webhook, then with 1, then with 10 webhooks, in alternating rounds (off, 1, off,
  10, ...), so the database's growth and the machine's other load fall on every variant alike;
- p50/p95 delay from a push's 200 to the receiver's 2xx for each of its events, with 1 and 10 webhooks;
- events delivered per second with 10 webhooks (events accepted / time from the round's first push
  to its last delivery).
Production timings (poll 0.5 s, timeout 10 s); only loopback receivers are allowed, as in the tests.
"""

from __future__ import annotations

import time
from typing import Any

import requests

from bench.common import Engine, Results, consultations, coordinator_for, device_for, median, percentile, team_sites
from tests.e2e.live_server import live_server, prepare_database
from tests.factories import push_body
from tests.webhook_receiver import Receiver

TEAM = "ly-mmt-tripoli"
BATCH = 50
ENV = {"WEBHOOK_ALLOW_PRIVATE": "1", "WEBHOOK_ALLOWED_HTTP_HOSTS": "127.0.0.1"}
EVENTS = ["record.created", "record.corrected", "record.voided"]


def run(eng: Engine, results: Results, *, batches: int = 8, rounds: int = 2, workers: int = 2) -> None:
    url = eng.new_database("webhooks")
    prepare_database(url)
    device = device_for(url, TEAM).headers
    coordinator = coordinator_for(url)
    sites = team_sites(url, TEAM)
    variants = (0, 1, 10)
    mutations = iter(consultations(BATCH * batches * rounds * len(variants), TEAM, sites, seed=28))
    rates: dict[int, list[float]] = {count: [] for count in variants}
    delays: dict[int, list[float]] = {count: [] for count in variants if count}
    delivered_per_s: list[float] = []
    receivers = [Receiver().start() for _ in range(max(variants))]
    try:
        with live_server(url, workers=workers, env=ENV, webhook_worker=True) as server, requests.Session() as http:
            for _ in range(rounds):
                for count in variants:
                    hooks = []
                    for receiver in receivers[:count]:
                        created = http.post(server.url + "/api/v1/webhooks", headers=coordinator, timeout=60,
                                            json={"url": receiver.url, "countries": ["LY"], "events": EVENTS})
                        created.raise_for_status()
                        receiver.secret = created.json()["secret"]
                        receiver.accepted.clear()
                        hooks.append(created.json()["id"])
                    pushed_at: dict[str, float] = {}
                    started = time.perf_counter()
                    first = time.monotonic()
                    for _ in range(batches):
                        body = push_body([next(mutations) for _ in range(BATCH)])
                        response = http.post(server.url + "/api/v1/sync/push", json=body, timeout=300,
                                             headers={**device, "Idempotency-Key": body["batch_id"]})
                        response.raise_for_status()
                        done = time.monotonic()
                        pushed_at.update({m["id"]: done for m in body["mutations"]})
                    rates[count].append(batches * BATCH / (time.perf_counter() - started))
                    if count:
                        expected = len(pushed_at)
                        for receiver in receivers[:count]:
                            if not receiver.wait_for(lambda r, n=expected: len(r.accepted) >= n, timeout=120):
                                raise RuntimeError(f"only {len(receiver.accepted)} of {expected} events arrived\n"
                                                   f"{server.log_tail()}")
                        arrivals = [d for receiver in receivers[:count] for d in receiver.accepted]
                        delays[count] += [d.received_at - pushed_at[d.body["data"]["id"]] for d in arrivals]
                        if count == max(variants):
                            last = max(d.received_at for d in arrivals)
                            delivered_per_s.append(len(arrivals) / (last - first))
                    for hook_id in hooks:
                        http.delete(f"{server.url}/api/v1/webhooks/{hook_id}", headers=coordinator,
                                    timeout=60).raise_for_status()
    finally:
        for receiver in receivers:
            receiver.stop()
    off = median(rates[0])
    note = "machine shared with other engineers' work"
    for count in (1, 10):
        on = median(rates[count])
        results.add(eng.name, f"webhooks: push rate with {count} webhook(s) / none",
                    f"{on / off:.2f}", f"{on:.0f} vs {off:.0f} records/s, batches of {BATCH}; goal >= 0.90; {note}")
        results.add(eng.name, f"webhooks: push 200 -> receiver 2xx, {count} webhook(s)",
                    f"p50 {median(delays[count]):.2f} s, p95 {percentile(delays[count], 0.95):.2f} s",
                    f"{len(delays[count])} events; goal p95 <= 2 s; {note}")
    results.add(eng.name, "webhooks: events delivered/s, 10 webhooks", f"{median(delivered_per_s):.0f}",
                f"one worker process, 8 threads; {note}")


def main(argv: list[str] | None = None) -> Any:  # `python -m bench.webhooks` alone
    import argparse

    from bench.common import engine

    parser = argparse.ArgumentParser()
    parser.add_argument("--engines", default="sqlite,postgresql")
    args = parser.parse_args(argv)
    results = Results()
    for name in args.engines.split(","):
        with engine(name) as eng:
            run(eng, results)
    print(results.table())


if __name__ == "__main__":
    main()
