"""Unit-test fixtures: a Flask test client over the real app whose service records admin calls."""
from __future__ import annotations

import pytest

from tests.fixtures.web import AdminRecorder, write_users_file
from webapp import create_app


@pytest.fixture
def service():
    return AdminRecorder()


@pytest.fixture
def app(settings, tmp_path, service):
    users = write_users_file(tmp_path / "users.json")
    return create_app(settings.with_(users_file=users), environ={}, service=service)


@pytest.fixture
def client(app):
    return app.server.test_client()
