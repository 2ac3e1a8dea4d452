"""Every table in one metadata, for the migrations (worker/migrations/env.py) and the test that
compares them with the models. The ops console's and the ledger's summary tables live beside
their code and import the shared base; gathering them here, rather than importing them from
worker.models, keeps the models importing one way."""

from __future__ import annotations

from sqlalchemy import MetaData

from worker.delivery import ledger_models
from worker.models import Base
from worker.ops import models as ops_models

# the table modules outside worker/models/: importing them adds their tables to Base.metadata
OUTSIDE_MODELS = (ledger_models, ops_models)

metadata: MetaData = Base.metadata
