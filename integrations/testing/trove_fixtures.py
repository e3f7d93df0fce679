"""pytest fixtures the integrations' tests share (loaded with `-p trove_fixtures` by
`crates/trove/tests/clients.rs`): a client logged in to the server the harness started, a
fresh vault deleted afterwards, and running a package's example against that server."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from trove_client import Trove


@pytest.fixture(scope="module")
def client():
    # One login for the module: the server allows 20 logins an hour from one address.
    with Trove.login(os.environ["TROVE_TEST_URL"], os.environ["TROVE_TEST_EMAIL"], os.environ["TROVE_TEST_PASSWORD"]) as t:
        yield t


@pytest.fixture
def vault(client):
    name = "v" + uuid.uuid4().hex[:10]
    client.vaults.create(name)
    yield name
    client.vaults.delete(name)


def run_example(client: Trove, tests_file: str) -> str:
    """Runs `examples/example.py` of the package whose tests are in `tests_file` against the
    server, with the client's session; answers what it printed."""
    example = Path(tests_file).parent.parent / "examples" / "example.py"
    token = client._http.headers["authorization"].removeprefix("Bearer ")
    env = dict(os.environ, TROVE_URL=os.environ["TROVE_TEST_URL"], TROVE_TOKEN=token)
    out = subprocess.run([sys.executable, str(example)], env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    return out.stdout
