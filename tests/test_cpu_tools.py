"""The CPU measurement tools of issue 21 keep working as the app changes (embedded engine)."""

import logging

import mongomock
from mongomock.collection import Collection

from service.main import configure_logging
from tools.cpu_floor import PAGE, ArticlesPage
from tools.cpu_in_process import ENDPOINTS, measure, time_engine


async def test_in_process_measures_every_endpoint_and_puts_the_logging_back():
    access = logging.getLogger("folio.access")
    if not access.handlers:
        configure_logging()  # as create_app does: then measure() finds the production handler
    handlers = list(access.handlers)
    figures = await measure(0.02)
    assert set(figures) == set(ENDPOINTS)
    # Each is Folio's own CPU per request outside the engine: positive, and under 50 ms here.
    assert all(0 < figure < 50_000 for figure in figures.values()), figures
    # The access log went to /dev/null for the measurement only: the same handlers after it.
    assert access.handlers == handlers


def test_the_engine_timer_counts_calls_while_open_and_restores_the_engine():
    original = Collection.find_one
    things = mongomock.MongoClient().db.things
    with time_engine() as idle:
        pass
    assert idle == [0.0]
    with time_engine() as spent:
        assert Collection.find_one is not original
        things.insert_one({"a": 1})
        assert things.find_one({"a": 1})["a"] == 1
    assert spent[0] > 0
    assert Collection.find_one is original


def test_the_floor_answers_a_valid_page_of_twenty():
    page = ArticlesPage.model_validate(PAGE)
    assert len(page.articles) == 20 and page.articles_count == 60
