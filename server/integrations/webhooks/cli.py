"""`flask --app server webhooks worker`: the delivery worker, in the foreground until SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import os
import signal
from types import FrameType

import click
from flask import Flask, current_app
from flask.cli import AppGroup


def register(app: Flask) -> None:
    group = AppGroup("webhooks", help="Webhooks: the delivery worker.")

    @group.command("worker")
    @click.option("--once", is_flag=True, help="Send what is due now, then exit.")
    def worker_command(once: bool) -> None:
        """Send the outbox's events to their receivers (make run starts one beside gunicorn). Safe to stop
        and start at any time: an event in flight is sent again after WEBHOOK_LEASE_SECONDS."""
        from server.integrations.webhooks.worker import Worker

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
        worker = Worker(current_app._get_current_object())  # type: ignore[attr-defined]
        if once:
            click.echo(f"webhooks: {worker.run_once()} attempt(s)")
            return

        def stop(signum: int, frame: FrameType | None) -> None:
            worker.stopping.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        # Below gunicorn's priority: with ten webhooks a burst of pushes makes ten deliveries per
        # record, and on the same cores those took up to half the CPU the pushes needed (bench/webhooks.py).
        os.nice(int(current_app.config["WEBHOOK_WORKER_NICE"]))
        worker.run()

    app.cli.add_command(group)
