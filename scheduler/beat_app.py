"""`celery -A scheduler.beat_app beat`: the app with the schedule installed from the environment.

`digestcast beat` is the usual entry point; this module is for running celery's own CLI
(and for the two-beats test).
"""

from __future__ import annotations

from scheduler.beat import configure_beat
from worker.celery_app import app as celery_app
from worker.celery_app import current_settings

app = configure_beat(celery_app, current_settings())
