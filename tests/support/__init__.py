"""Plain helpers the tests import (tests/conftest.py keeps the fixtures): encoded audio,
stores and their settings, server processes, a media server, a webhook receiver, a
storage emulator, the index API's client calls and the OpenAPI contract check."""
