"""gunicorn.conf.py's settings for the reference ingest (bench/openrosa_reference.py): the same
worker class, workers, threads, access log and garbage-collector tuning; without the hook that
resets Fieldsync's own database engines after the fork (the reference opens its connections in
the workers)."""
import gc
from pathlib import Path

exec(compile((Path(__file__).resolve().parent.parent / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"))


def post_fork(server, worker):  # noqa: ANN001, ANN201 (gunicorn's hook signature)
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)  # noqa: F821 (defined by gunicorn.conf.py)
