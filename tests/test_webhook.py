"""The Alertmanager HTTP bridge: status codes, auth, limits, TLS, garbage."""

from __future__ import annotations

import base64
import http.client
import json
import shutil
import socket
import ssl
import subprocess

import pytest

from intake_only import FaultyDaemon, IntakeOnlyDaemon  # noqa: E402

from sntakeover import webhook  # noqa: E402

PAYLOAD = {
    "version": "4", "groupKey": "{}:{alertname=\"XcatSnDown\"}", "truncatedAlerts": 0, "status": "firing",
    "receiver": "sntakeover", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
    "externalURL": "http://127.0.0.1:9093",
    "alerts": [{"status": "firing", "labels": {"alertname": "XcatSnDown", "sn": "sn1"}, "annotations": {},
                "startsAt": "2026-03-04T10:15:42.123Z", "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "",
                "fingerprint": "9f1c2b7e4d3a5c60"}],
}


@pytest.fixture
def bridge():
    started = []

    def start(endpoint, tls=None, **kw):
        if "token" not in kw and "basic" not in kw:
            kw.setdefault("no_auth", True)
        settings = webhook.Settings(endpoint=endpoint, timeout=0.5, retries=2, **kw)
        b = webhook.ThreadedBridge(settings, "127.0.0.1:0", webhook.tls_context(*tls) if tls else None)
        started.append(b)
        return b.start()

    yield start
    for b in started:
        b.stop()


@pytest.fixture
def daemon():
    d = IntakeOnlyDaemon()
    yield d
    d.close()


def post(port, body, headers=None, path="/alertmanager", conn=None):
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    c.request("POST", path, data, {"Content-Type": "application/json", **(headers or {})})
    r = c.getresponse()
    return r.status, json.loads(r.read() or b"{}")


def test_ack_gives_200_and_dedup(bridge, daemon):
    port = bridge(daemon.endpoint)
    status, body = post(port, PAYLOAD)
    assert status == 200 and body["events"][0]["duplicate"] is False
    status, body = post(port, PAYLOAD)
    assert status == 200 and body["events"][0]["duplicate"] is True
    assert daemon.requests[0] == {"v": 1, "op": "raw", "source": "alertmanager", "payload": PAYLOAD}


def test_no_daemon_gives_503(bridge, tmp_path):
    port = bridge(f"ipc://{tmp_path}/nobody.sock")
    assert post(port, PAYLOAD)[0] == 503


def test_daemon_rejection_gives_422(bridge, daemon):
    port = bridge(daemon.endpoint)
    bad = dict(PAYLOAD, alerts=[dict(PAYLOAD["alerts"][0], labels={"alertname": "X"})])
    status, body = post(port, bad)
    assert status == 422 and body["error"].startswith("$.payload.alerts[0].labels")
    assert post(port, dict(PAYLOAD, version="3"))[0] == 422


def test_daemon_garbage_gives_502(bridge):
    d = FaultyDaemon("garbage")
    try:
        assert post(bridge(d.endpoint), PAYLOAD)[0] == 502
    finally:
        d.close()


def test_bad_requests(bridge, daemon):
    port = bridge(daemon.endpoint, max_body=1000)
    assert post(port, b"{not json")[0] == 400
    assert post(port, b"[1,2]")[0] == 400
    assert post(port, b"\xff\xfe")[0] == 400
    assert post(port, b"x" * 2000)[0] == 413
    status, body = post(bridge(daemon.endpoint), b"[" * 200000 + b"]" * 200000)
    assert status == 400 and "nested too deeply" in body["error"], (status, body)  # Alertmanager retries a 5xx
    assert post(port, PAYLOAD, path="/elsewhere")[0] == 404
    assert post(port, PAYLOAD, headers={"Content-Type": "text/plain"})[0] == 415
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.putrequest("POST", "/alertmanager")
    c.putheader("Transfer-Encoding", "chunked")
    c.endheaders()
    c.send(b"0\r\n\r\n")
    assert c.getresponse().status == 411
    assert daemon.requests == []


def test_bearer_token(bridge, daemon):
    port = bridge(daemon.endpoint, token=b"s3cret")
    assert post(port, PAYLOAD)[0] == 401
    assert post(port, PAYLOAD, {"Authorization": "Bearer wrong"})[0] == 401
    assert post(port, PAYLOAD, {"Authorization": "Bearer s3cret"})[0] == 200


def test_basic_auth(bridge, daemon):
    port = bridge(daemon.endpoint, basic=b"am:pa:ss")
    good = base64.b64encode(b"am:pa:ss").decode()
    assert post(port, PAYLOAD, {"Authorization": "Basic " + base64.b64encode(b"am:nope").decode()})[0] == 401
    assert post(port, PAYLOAD, {"Authorization": "Basic !!!"})[0] == 401
    assert post(port, PAYLOAD, {"Authorization": "Basic " + good})[0] == 200


def test_healthz(bridge, daemon):
    c = http.client.HTTPConnection("127.0.0.1", bridge(daemon.endpoint), timeout=10)
    c.request("GET", "/healthz")
    assert c.getresponse().status == 200


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_tls(bridge, daemon, tmp_path):
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True)
    port = bridge(daemon.endpoint, tls=(str(cert), str(key)))
    ctx = ssl.create_default_context(cafile=str(cert))
    ctx.check_hostname = False
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
    assert post(port, PAYLOAD, conn=conn)[0] == 200
    # plain HTTP on the TLS port does not kill the server
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}")
    s.recv(100)
    s.close()
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
    assert post(port, PAYLOAD, conn=conn)[0] == 200


def test_survives_garbage_bytes(bridge, daemon):
    port = bridge(daemon.endpoint)
    for junk in (b"\x00\x01\x02\r\n\r\n", b"GET\r\n\r\n", b"POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
                 b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
                 b"POST / HTTP/1.1\r\n" + b"X: " + b"a" * 70000 + b"\r\n\r\n", b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n{"):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        try:
            s.sendall(junk)
            s.shutdown(socket.SHUT_WR)
            s.recv(1000)
        except OSError:
            pass
        finally:
            s.close()
    assert post(port, PAYLOAD)[0] == 200


def test_refuses_to_start_without_credentials(capsys):
    from sntakeover import hookcli

    assert hookcli.main(["webhook", "--listen", "127.0.0.1:0"]) == 2
    err = capsys.readouterr().err
    assert "refusing to start without credentials" in err and "--no-auth" in err


def test_no_auth_warns_at_every_start(tmp_path):
    import os
    import signal
    import sys
    import time

    from support import REPO

    env = dict(os.environ, SNTAKEOVER_ENDPOINT=f"ipc://{tmp_path}/none.sock")
    for _ in range(2):
        p = subprocess.Popen([sys.executable, "-m", "sntakeover", "webhook", "--listen", "127.0.0.1:0", "--no-auth"],
                             cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
        try:
            line = p.stderr.readline()
            assert "WITHOUT authentication" in line, line
        finally:
            p.send_signal(signal.SIGTERM)
            p.wait(10)
        time.sleep(0.05)


def test_internal_error_in_the_daemon_gives_503_so_alertmanager_retries(bridge, daemon):
    from sntakeover import hookimpl

    class Crashing:
        @hookimpl(tryfirst=True)
        def sntakeover_adapt(self, source, payload, options):
            raise RuntimeError("adapter bug")

    daemon.intake.hooks.pm.register(Crashing(), name="crashing")
    status, body = post(bridge(daemon.endpoint), PAYLOAD)
    assert status == 503 and body["error"] == "internal error: RuntimeError: adapter bug"


def test_one_bad_alert_of_three_two_stored_and_200(bridge, daemon):
    alerts = [dict(PAYLOAD["alerts"][0], fingerprint=f"ab{i}", labels={"alertname": "XcatSnDown", "sn": f"sn{i}"})
              for i in range(3)]
    alerts[1]["labels"] = {"alertname": "XcatSnDown", "sn": "sn 1; reboot"}
    status, body = post(bridge(daemon.endpoint), dict(PAYLOAD, alerts=alerts))
    assert status == 200 and len(body["events"]) == 2
    assert body["rejected"][0]["path"] == "$.payload.alerts[1].labels.sn"
    assert [e["servicenode"] for e in daemon.events] == ["sn0", "sn2"]


def test_concurrent_posts_reach_the_daemon_as_batches_and_each_gets_its_answer(bridge, daemon):
    port = bridge(daemon.endpoint)
    results = {}

    def one(i):
        alert = dict(PAYLOAD["alerts"][0], fingerprint=f"cc{i:02x}", labels={"alertname": "XcatSnDown", "sn": f"sn{i}"})
        results[i] = post(port, dict(PAYLOAD, alerts=[alert]))

    import threading

    threads = [threading.Thread(target=one, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(results[i][0] == 200 and results[i][1]["events"][0]["id"].startswith(f"am:cc{i:02x}:") for i in range(24))
    assert len(daemon.events) == 24
    assert daemon.intake.counters["batches"] < 24  # POSTs that met in the bridge went as one request


def test_connections_beyond_the_limit_get_503(bridge, daemon):
    port = bridge(daemon.endpoint, max_connections=2)
    held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(2)]
    try:
        held[0].sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"200" in held[0].recv(1000)  # the first two are served
        extra = socket.create_connection(("127.0.0.1", port), timeout=5)
        data = extra.recv(1000)
        extra.close()
        assert data.startswith(b"HTTP/1.1 503")
    finally:
        for s in held:
            s.close()


def test_tcp_nodelay_on_every_connection(daemon):
    """Headers and body leave in separate writes; without TCP_NODELAY Nagle meets delayed ACK (~40 ms)."""
    settings = webhook.Settings(endpoint=daemon.endpoint, token=b"t")
    b = webhook.ThreadedBridge(settings)
    seen = []

    async def record(request, response):
        sock = request.transport.get_extra_info("socket")
        seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    b.bridge.app.on_response_prepare.append(record)
    port = b.start()
    try:
        for _ in range(2):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            assert post(port, PAYLOAD, {"Authorization": "Bearer t"}, conn=c)[0] == 200
    finally:
        b.stop()
    assert seen and all(seen), seen


def test_a_utf16_body_does_not_spoil_the_batch_it_travels_in(bridge, daemon):
    port = bridge(daemon.endpoint)
    status, body = post(port, json.dumps(PAYLOAD).encode("utf-16"))
    assert status == 200 and body["events"][0]["duplicate"] is False
