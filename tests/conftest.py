"""Markers of the unit tests (the shared environment settings are in the root conftest.py)."""


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "install: builds a fresh venv with the floor TensorFlow/Keras from PyPI and runs a "
        "notebook alone in it (minutes; skips without PyPI); deselect with -m 'not install'",
    )
