"""No secret in any log line (issue 29 item 1): every kind of request through `make run`'s gunicorn, then
everything the server and the CLI wrote is scanned for every secret the test created.

Secrets: an admin's password (given to `create-user`), the user token it logs in with, an enrolment
code, the device token it is exchanged for, a Collect key (in every OpenRosa path), a webhook signing
secret (`whsec_`, sent where a client could put one), a DHIS2 token and the password inside a DHIS2
URL, a reset password. Requests: JSON API (good, refused, with secrets in query strings and headers,
as a client's request id), OpenRosa (every endpoint, unknown paths, bad bodies), and raw requests
gunicorn refuses itself (request line too long, malformed line, invented method, header too large),
whose warnings quote the request line. Also: those refusals come back in the error envelope.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from server.persistence.migrations_state import PROJECT_ROOT
from tests.e2e.conftest import Site

TEAM = "ly-mmt-tripoli"


def _flask(site: Site, *args: str, stdin: str = "", env: dict[str, str] | None = None) -> str:
    flask = str(Path(sys.executable).with_name("flask"))
    done = subprocess.run([flask, "--app", "server", *args], cwd=PROJECT_ROOT, input=stdin, text=True,
                          capture_output=True, timeout=120,
                          env={**os.environ, "DATABASE_URL": site.database_url, **(env or {})})
    return done.stdout + done.stderr


def _raw(url: str, request: bytes) -> bytes:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (ConnectionResetError, TimeoutError):
            pass
    return b"".join(chunks)


def _status_and_body(answer: bytes) -> tuple[int, dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)


def test_no_secret_reaches_any_log_line(site: Site) -> None:
    base = site.server.url
    password = "Pw-" + secrets.token_hex(12)
    reset_password = "Rp-" + secrets.token_hex(12)
    admin = f"sec-admin-{secrets.token_hex(3)}"
    worker = f"sec-worker-{secrets.token_hex(3)}"
    cli_output = [
        _flask(site, "create-user", admin, "--role", "admin", "--password-stdin", stdin=password + "\n"),
        _flask(site, "create-user", worker, "--role", "field_worker", "--country", "LY", "--team", TEAM,
               "--password-stdin", stdin=password + "\n"),
    ]

    login = requests.post(base + "/api/v1/auth/token", json={"username": admin, "password": password}, timeout=30)
    assert login.status_code == 200, login.text
    user_token = login.json()["token"]
    user = {"Authorization": f"Bearer {user_token}"}
    requests.post(base + "/api/v1/auth/token", json={"username": admin, "password": password + "x"}, timeout=30)

    code = requests.post(f"{base}/api/v1/teams/{TEAM}/enrollments", json={"username": worker}, headers=user,
                         timeout=30).json()["code"]
    enrolled = requests.post(base + "/api/v1/devices/enroll", json={"code": code, "label": "t", "app_version": "1"},
                             timeout=30)
    assert enrolled.status_code == 201, enrolled.text
    device_token = enrolled.json()["token"]
    device = {"Authorization": f"Bearer {device_token}"}
    # A used code again, in the body and (as a careless client would) in the query string.
    requests.post(f"{base}/api/v1/devices/enroll?code={code}", json={"code": code, "label": "t", "app_version": "1"},
                  timeout=30)

    collect = requests.post(f"{base}/api/v1/teams/{TEAM}/collect-devices", json={"username": worker, "label": "c"},
                            headers=user, timeout=30)
    assert collect.status_code == 201, collect.text
    server_url = collect.json()["server_url"]
    key = server_url.rsplit("/", 1)[1]
    webhook_secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    dhis2_token = "d2pat_" + secrets.token_hex(16)
    dhis2_password = "Dp-" + secrets.token_hex(10)

    # JSON API: good and refused, secrets where clients put them.
    requests.get(base + "/api/v1/sync/pull", headers=device, timeout=30)
    requests.get(f"{base}/api/v1/sync/pull?token={device_token}", timeout=30)
    requests.get(base + "/api/v1/sync/pull", headers={"Authorization": f"Bearer {device_token}x",
                                                      "X-Request-Id": device_token}, timeout=30)
    requests.get(base + "/api/v1/teams", headers={**user, "X-Request-Id": user_token}, timeout=30)
    requests.get(f"{base}/api/v1/audit?cursor={password}&password={password}", headers=user, timeout=30)
    requests.get(f"{base}/api/v1/webhooks/{webhook_secret}?secret={webhook_secret}",
                 headers={**user, "X-Webhook-Secret": webhook_secret}, timeout=30)
    requests.get(f"{base}/no/such/{device_token}/{webhook_secret}", timeout=30)
    requests.post(base + "/api/v1/users/x/password", json={"password": reset_password}, headers=user, timeout=30)
    # A real webhook: the secret the server makes (shown once) and a receiver's password in its URL.
    hook_password = "Wp-" + secrets.token_hex(10)
    hook = requests.post(base + "/api/v1/webhooks", headers=user, timeout=30,
                         json={"url": f"https://hooks:{hook_password}@8.8.8.8/fieldsync", "countries": ["LY"],
                               "events": ["record.created"]})
    assert hook.status_code == 201, hook.text
    server_webhook_secret = hook.json()["secret"]
    requests.get(base + "/api/v1/webhooks", headers=user, timeout=30)
    requests.get(f"{base}/api/v1/webhooks/{hook.json()['id']}/deliveries", headers=user, timeout=30)

    # OpenRosa: every endpoint with the key in its path.
    for path in ("/formList", "/forms/fieldsync_consultation.xml", "/forms/fieldsync_consultation/manifest",
                 "/forms/nope/media/x.png", "/submission", "/no/such/thing", f"/formList?key={key}"):
        requests.get(server_url + path, timeout=30)
    requests.head(server_url + "/submission", timeout=30)
    requests.post(server_url + "/submission", data=b"not multipart", headers={"Content-Type": "text/plain"},
                  timeout=30)
    requests.post(server_url + "/submission", files={"xml_submission_file": ("s.xml", b"<x>", "text/xml")},
                  timeout=30)
    requests.get(base + f"/openrosa/v1/key/{key}x/formList", timeout=30)

    # What gunicorn refuses itself: each warning it logs quotes the request or its error.
    too_long = _raw(base, f"GET /openrosa/v1/key/{key}/formList?x={'a' * 5000} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    status, body = _status_and_body(too_long)
    assert status == 414 and body["error"]["code"] == "request_line_too_long"
    malformed = _raw(base, f"GET /openrosa/v1/key/{key}/formList HTTP/1.1 extra\r\nHost: x\r\n\r\n".encode())
    assert _status_and_body(malformed)[0] == 400
    big_header = _raw(base, f"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Token: {device_token}{'a' * 9000}\r\n\r\n"
                      .encode())
    status, body = _status_and_body(big_header)
    assert status == 431 and body["error"]["code"] == "headers_too_large"
    _raw(base, f"X{key} /openrosa/v1/key/{key}/formList HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    _raw(base, f"GET /openrosa/v1/key/{key}/formList HTTP/1.1\r\nHost: x\r\nBad Header: {key}\r\n\r\n".encode())
    _raw(base, f"XAAAQQ /openrosa/v1/key/{key}/submission HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode())

    # CLI: DHIS2 with credentials in its URL, a token to an unreachable host; a password reset.
    cli_output.append(_flask(site, "dhis2", "push", "--country", "LY", "--period", "201601",
                             env={"DHIS2_URL": f"http://fieldsync:{dhis2_password}@127.0.0.1:9/hmis",
                                  "DHIS2_TOKEN": dhis2_token}))
    cli_output.append(_flask(site, "dhis2", "push", "--country", "LY", "--period", "201601",
                             env={"DHIS2_URL": "http://127.0.0.1:9/hmis", "DHIS2_TOKEN": dhis2_token}))
    cli_output.append(_flask(site, "users", "reset-password", worker, "--password-stdin",
                             stdin=reset_password + "\n"))

    time.sleep(1.0)  # the workers' last lines reach the file
    written = site.server.log_path.read_text(errors="replace") + "\n".join(cli_output)
    assert '"GET /openrosa/v1/key/' in written, "the access log is there to be scanned"
    found = {name: secret for name, secret in {
        "password": password, "reset password": reset_password, "user token": user_token.removeprefix("fsu_"),
        "enrolment code": code, "enrolment code (normalised)": code.replace("-", ""),
        "device token": device_token.removeprefix("fsd_"), "collect key": key.removeprefix("fsd_"),
        "webhook secret": webhook_secret.removeprefix("whsec_"), "dhis2 token": dhis2_token,
        "server's webhook secret": server_webhook_secret.removeprefix("whsec_"), "webhook url password": hook_password,
        "dhis2 url password": dhis2_password,
    }.items() if secret in written}
    assert not found, f"secrets in the log: {sorted(found)}"


@pytest.mark.parametrize("length", [5000, 70000])
def test_over_long_request_lines_and_headers_are_answered_in_the_envelope(site: Site, length: int) -> None:
    status, body = _status_and_body(_raw(site.server.url, f"GET /{'a' * length} HTTP/1.1\r\nHost: x\r\n\r\n".encode()))
    assert (status, body["error"]["code"]) == (414, "request_line_too_long")
    assert set(body["error"]) == {"code", "message", "fields"}
    many = "".join(f"X-H{i}: v\r\n" for i in range(150))
    status, body = _status_and_body(_raw(site.server.url, f"GET /healthz HTTP/1.1\r\nHost: x\r\n{many}\r\n".encode()))
    assert (status, body["error"]["code"]) == (431, "headers_too_large")


def test_collect_server_url_ignores_forwarded_headers_without_trusted_proxies(site: Site) -> None:
    """Issue 29 item 9: with PUBLIC_BASE_URL unset and TRUSTED_PROXIES=0, a client's X-Forwarded-Proto
    and X-Forwarded-Host do not shape the URL that holds a tablet's key (gunicorn believed local peers)."""
    base = site.server.url
    password = "Pw-" + secrets.token_hex(12)
    admin, worker = f"fw-admin-{secrets.token_hex(3)}", f"fw-worker-{secrets.token_hex(3)}"
    _flask(site, "create-user", admin, "--role", "admin", "--password-stdin", stdin=password + "\n")
    _flask(site, "create-user", worker, "--role", "field_worker", "--country", "LY", "--team", TEAM,
           "--password-stdin", stdin=password + "\n")
    token = requests.post(base + "/api/v1/auth/token", json={"username": admin, "password": password},
                          timeout=30).json()["token"]
    answer = requests.post(f"{base}/api/v1/teams/{TEAM}/collect-devices", json={"username": worker, "label": "c"},
                           headers={"Authorization": f"Bearer {token}", "X-Forwarded-Proto": "https",
                                    "X-Forwarded-Host": "evil.example"}, timeout=30)
    assert answer.status_code == 201, answer.text
    assert answer.json()["server_url"].startswith(base + "/openrosa/v1/key/")
