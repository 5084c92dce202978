"""gunicorn settings for `make run`: HOST, PORT and WORKERS come from the environment."""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("WORKERS", "2"))
# Threads let a worker answer health checks while another request waits on the database.
# gthread, but a request reaches a thread only once it has arrived (server/web/serving.py): clients that
# send half a header and stall cost a socket, not a thread, so /healthz and real tablets still get answers.
worker_class = "server.web.serving.BufferingThreadWorker"
threads = int(os.environ.get("THREADS", "4"))
timeout = 120
graceful_timeout = 30
keepalive = 5
# The access log never shows headers. Its request line holds the path (Collect's key is a path segment)
# and the query string: every access and error line goes through server/web/redaction.py (the logger class
# below), which removes keys, tokens, URL credentials and query values before the line is written.
accesslog = "-"
logger_class = "server.web.serving.RedactingLogger"
# X-Forwarded-Proto (and the scheme of every URL the app builds from the request, such as a Collect
# tablet's server_url, which holds its key) is believed only when reverse proxies are declared
# (TRUSTED_PROXIES > 0, as the rate limiter counts them): gunicorn's default believes any local peer.
if int(os.environ.get("TRUSTED_PROXIES") or "0") > 0:
    forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
else:
    forwarded_allow_ips = ""
# The worker's pid tells an operator (and the deployment tests) which process answered.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms pid=%(p)s'
# The app is imported once, in the master, and each worker is forked from it: a worker (a new one after
# a crash too) is serving in milliseconds instead of after ~2 s of imports per process, and the workers
# share the code's memory pages. `post_fork` below gives each worker its own database connections.
preload_app = True
# Each worker's heartbeat is a timestamp written on a temporary file on every turn of its event loop: on
# a disk-backed /tmp that was ~4% of a busy worker's time (py-spy, one tablet submitting); in memory
# (/dev/shm, as gunicorn's documentation advises) it is a system call that touches no disk.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
# gunicorn's control socket lives at one shared default path; two servers on a machine collide.
control_socket_disable = True

# Prometheus multiprocess mode (server/web/metrics.py): every worker writes its samples under one directory,
# fresh for each server start (stale files would add a dead server's counts), set before any worker
# imports prometheus_client; an exited worker's live gauges are dropped, the directory removed on exit.
import gc  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402

os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="fieldsync-metrics-")


# The garbage collector in the workers. Measured in process, pushes of 500 consultations (SQLite): a batch
# spent 26-33 ms in collections (each one allocates ~14,000 short-lived containers, so ~20 young
# collections, and a full one scanned the app's ~150,000 objects); with the app frozen before the fork
# 12-13 ms, and with young collections every 7,000 allocations instead of 700, 5 ms.
GC_YOUNG_THRESHOLD = 7000


def pre_fork(server, worker):  # noqa: ANN001, ANN201 (gunicorn's hook signature)
    # Everything the preloaded app made is long-lived: frozen, the workers' collections never scan it
    # again (nor write to its pages, which stay shared with the master), as the gc module documents.
    gc.freeze()


def post_fork(server, worker):  # noqa: ANN001, ANN201 (gunicorn's hook signature)
    # Connections (and SQLite handles) must never be shared across a fork: the worker starts with
    # empty pools, leaving the master's untouched (close=False), as SQLAlchemy documents for forking.
    from server.extensions import db

    app = server.app.wsgi()  # the preloaded Flask app
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose(close=False)
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


def child_exit(server, worker):  # noqa: ANN001, ANN201 (gunicorn's hook signature)
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):  # noqa: ANN001, ANN201
    shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
