"""The client's own logic against `httpx.MockTransport`: retries of 429 and 503 with both
forms of `Retry-After`, giving up, error bodies of other shapes, multipart bodies, time limits."""

import email.utils
import socket
import threading
import time

import httpx
import pytest

from trove_client import NO_RETRIES, RetryPolicy, Trove, TroveConnectionError, TroveError
from trove_client._core import multipart


def _flaky(statuses, headers=None):
    seen = []

    def handler(request):
        seen.append(request)
        status = statuses[min(len(seen) - 1, len(statuses) - 1)]
        if status == 200:
            return httpx.Response(200, json=[{"name": "notes", "documents": 1, "chunks": 2}])
        body = {"message": "slow down", "code": "rate_limited" if status == 429 else "unavailable", "type": "system", "link": "x"}
        return httpx.Response(status, json=body, headers=headers or {})

    return seen, httpx.MockTransport(handler)


def test_a_503_with_an_http_date_retry_after_is_retried():
    when = email.utils.formatdate(time.time() + 1, usegmt=True)
    seen, transport = _flaky([503, 200], {"retry-after": when})
    with Trove("http://trove.test", transport=transport) as t:
        started = time.monotonic()
        vaults = t.vaults.list()
    assert [v.name for v in vaults] == ["notes"] and vaults[0].chunks == 2
    assert len(seen) == 2
    assert time.monotonic() - started < 5


def test_a_429_without_retry_after_backs_off_then_gives_up_with_the_code():
    seen, transport = _flaky([429])
    policy = RetryPolicy(attempts=3, base=0.01, max_backoff=0.02)
    with Trove("http://trove.test", transport=transport, retries=policy) as t:
        with pytest.raises(TroveError) as e:
            t.vaults.list()
    assert len(seen) == 3
    assert e.value.code == "rate_limited" and e.value.status == 429


def test_a_retry_after_longer_than_max_wait_is_not_waited_for():
    seen, transport = _flaky([429, 200], {"retry-after": "3600"})
    with Trove("http://trove.test", transport=transport, retries=RetryPolicy(max_wait=10)) as t:
        with pytest.raises(TroveError) as e:
            t.vaults.list()
    assert len(seen) == 1 and e.value.retry_after == 3600


def test_other_statuses_are_not_retried_and_odd_bodies_still_raise():
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(502, text="<html>bad gateway</html>")

    with Trove("http://trove.test", transport=httpx.MockTransport(handler)) as t:
        with pytest.raises(TroveError) as e:
            t.vaults.get("notes")
    assert len(calls) == 1
    assert e.value.code == "http_502" and "bad gateway" in e.value.message


def test_multipart_bodies_name_each_file_and_the_format_first():
    body, content_type = multipart([("a.md", "# A"), ("b\"q.txt", b"bee")], "markdown")
    boundary = content_type.split("boundary=")[1]
    parts = body.split(f"--{boundary}".encode())
    assert b'name="format"' in parts[1] and b"markdown" in parts[1]
    assert b'filename="a.md"' in parts[2] and b"# A" in parts[2]
    assert b'filename="b\\"q.txt"' in parts[3]
    assert body.endswith(f"--{boundary}--\r\n".encode())


def test_a_server_that_never_answers_hits_the_time_limit():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    accepted = []
    thread = threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True)
    thread.start()
    port = listener.getsockname()[1]
    try:
        with Trove(f"http://127.0.0.1:{port}", timeout=0.3, retries=NO_RETRIES) as t:
            started = time.monotonic()
            with pytest.raises(TroveConnectionError) as e:
                t.vaults.list()
        assert e.value.timeout
        assert time.monotonic() - started < 5
    finally:
        listener.close()
