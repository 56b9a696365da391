"""The loader's SQL filter on journey dates says what domain.timing.window_is_open says."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from sqlalchemy import create_engine, literal, select

from domain.timing import window_is_open
from store.columns import UTCDateTime
from store.database import sync_url
from store.loads import window_is_open as window_is_open_sql
from tests.conftest import T0

DATES = [None, T0 - timedelta(hours=1), T0, T0 + timedelta(hours=1)]


def test_the_sql_window_agrees_with_the_domain(database_url: str) -> None:
    def as_sql(value: datetime | None):  # a typed NULL or date
        return literal(value, UTCDateTime())

    cases = list(itertools.product(DATES, DATES))
    engine = create_engine(sync_url(database_url))
    try:
        with engine.connect() as connection:
            answers = [
                bool(connection.execute(
                    select(window_is_open_sql(as_sql(start), as_sql(end), as_sql(T0)))
                ).scalar_one())
                for start, end in cases
            ]  # fmt: skip
    finally:
        engine.dispose()
    assert answers == [window_is_open(start, end, T0) for start, end in cases]
