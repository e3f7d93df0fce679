"""What the tests share: the server the Rust harness started (`crates/trove/tests/clients.rs`
sets `TROVE_TEST_URL`, an account's email and password, and an API key), and unique names."""

import os
import uuid

import pytest


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run these tests through `cargo nextest run -p trove --test clients` (scripts/test), which starts a server")
    return value


@pytest.fixture(scope="session")
def server():
    return {
        "url": _env("TROVE_TEST_URL"),
        "email": _env("TROVE_TEST_EMAIL"),
        "password": _env("TROVE_TEST_PASSWORD"),
        "key": _env("TROVE_TEST_KEY"),
    }


@pytest.fixture
def name():
    return "t" + uuid.uuid4().hex[:10]
