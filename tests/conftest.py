"""Shared fixtures live in tests/fixtures/, one module per concern."""
pytest_plugins = [
    "tests.fixtures.settings",
    "tests.fixtures.world",
    "tests.fixtures.bundle",
    "tests.fixtures.web",
]
