"""Shared fixtures.

PostgreSQL: ``postgres_url`` (session) is the URL of a database on a throwaway server this
test session starts; ``postgres_db_url`` (per test) is the URL of a fresh, empty database on
that server, so tests never see each other's studies. Both are URLs in the form the README
documents (``postgresql://explore@127.0.0.1:<port>/<db>``, SQLAlchemy's default driver psycopg 3)
that ``optuna.storages.RDBStorage`` and ``--storage`` take as is. The server starts only when a test asks for one of them; under pytest-xdist each
worker starts its own. Missing server binaries fail the test (``apt-get install -y postgresql``).
"""

from __future__ import annotations

import atexit

import pytest

from postgres import INSTALL_HINT, PostgresServer, find_bindir


@pytest.fixture(scope="session")
def postgres_server():
    """A running PostgreSQL server (tests/postgres.py), stopped and deleted after the session."""
    bindir = find_bindir()
    if bindir is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    server = PostgresServer(bindir)
    atexit.register(server.stop)  # stop() is idempotent; covers an interpreter exit without teardown
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_server) -> str:
    """URL of the session server's ``explore_test`` database (shared by all tests of a worker)."""
    return postgres_server.url()


@pytest.fixture
def postgres_db_url(postgres_server):
    """URL of a fresh database created for this test and dropped after it."""
    name = postgres_server.create_database()
    yield postgres_server.url(name)
    postgres_server.drop_database(name)
