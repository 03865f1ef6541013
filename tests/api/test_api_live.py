"""The API as it is deployed: `tallyclerk keys` and `tallyclerk serve` as real processes, over
plain HTTP and over HTTPS with a certificate made for the test."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.api.live import SHIPMENT, TALLYCLERK, serving


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = os.environ | {"NO_COLOR": "1"}
    return subprocess.run([TALLYCLERK, *args], capture_output=True, text=True, env=env, timeout=60)


@pytest.fixture
def workspaces(tmp_path, workspaces_template):
    import shutil

    shutil.copytree(workspaces_template, tmp_path / "workspaces")
    return tmp_path / "workspaces"


def test_keys_are_made_listed_and_revoked_on_the_command_line(workspaces):
    made = _cli(
        "keys",
        "create",
        "--workspaces",
        str(workspaces),
        "--tenant",
        "acme",
        "--role",
        "approver",
        "--user",
        "alex",
    )
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    key_id = re.fullmatch(r"tck_([0-9a-f]{12})_[A-Za-z0-9_-]{43}", key)[1]
    assert "acting as alex" in made.stderr and "shown only now" in made.stderr

    listed = _cli("keys", "list", "--workspaces", str(workspaces))
    assert key_id in listed.stdout and "approver" in listed.stdout
    assert key.rsplit("_", 1)[1] not in listed.stdout

    revoked = _cli("keys", "revoke", "--workspaces", str(workspaces), key_id)
    assert revoked.returncode == 0 and f"Key {key_id} revoked" in revoked.stdout
    unknown = _cli("keys", "revoke", "--workspaces", str(workspaces), "000000000000")
    assert unknown.returncode == 2 and "no key '000000000000'" in unknown.stderr
    bad = _cli(
        "keys", "create", "--workspaces", str(workspaces), "--tenant", "nobody", "--role", "viewer"
    )
    assert bad.returncode == 2 and "holds no tallyclerk.yaml" in bad.stderr
    role = _cli(
        "keys", "create", "--workspaces", str(workspaces), "--tenant", "acme", "--role", "boss"
    )
    assert role.returncode == 2 and "unknown role 'boss'" in role.stderr
    create = ("keys", "create", "--workspaces", str(workspaces))
    tenantless = _cli(*create, "--role", "admin")
    assert tenantless.returncode == 2
    assert "an admin key belongs to one tenant; give --tenant" in tenantless.stderr
    stranger = _cli(*create, "--tenant", "acme", "--role", "viewer", "--user", "nobody")
    assert stranger.returncode == 2
    assert "--user nobody: acme's tallyclerk.yaml declares no such user" in " ".join(
        stranger.stderr.split()
    )
    # pat is a preparer: a key acting as pat may not decide, so it may not be an approver's.
    beyond = _cli(*create, "--tenant", "acme", "--role", "approver", "--user", "pat")
    assert beyond.returncode == 2
    assert (
        "--role approver: pat is a preparer in acme's tallyclerk.yaml, and a key acting as pat "
        "may do only what pat may; give --role viewer or preparer, or change pat's role first."
    ) in " ".join(beyond.stderr.split())
    assert _cli(*create, "--tenant", "acme", "--role", "viewer", "--user", "pat").returncode == 0


def _key(workspaces, tenant: str = "acme", role: str = "viewer") -> str:
    made = _cli(
        "keys", "create", "--workspaces", str(workspaces), "--tenant", tenant, "--role", role
    )
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


def test_a_real_server_answers_on_loopback(workspaces):
    key = _key(workspaces)
    with serving(workspaces) as url:
        headers = {"Authorization": f"Bearer {key}"}
        response = httpx.post(
            f"{url}/v1/validate?entity=shipment&system=tms", headers=headers, json=[SHIPMENT]
        )
        assert response.status_code == 200, response.text
        assert [f["rule_id"] for f in response.json()["findings"]] == ["shipment-carrier-known"]
        assert "server" not in response.headers
        refused = httpx.get(f"{url}/v1/runs")
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        big = httpx.post(
            f"{url}/v1/validate?entity=shipment",
            headers=headers | {"content-type": "text/csv"},
            content=b"x" * (17 * 1024 * 1024),
        )
        assert big.status_code == 413


def _certificate(folder) -> tuple:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_https_when_given_a_certificate_and_key(workspaces, tmp_path):
    cert, key_file = _certificate(tmp_path)
    key = _key(workspaces)
    trust = ssl.create_default_context(cafile=str(cert))
    extra = ("--certfile", str(cert), "--keyfile", str(key_file))
    with serving(workspaces, *extra, scheme="https", verify=trust) as url:
        response = httpx.get(
            f"{url}/v1/runs", headers={"Authorization": f"Bearer {key}"}, verify=trust
        )
        assert response.status_code == 200
        assert response.json()["runs"][0]["run_id"] == "2026-11.001"
        with pytest.raises(httpx.HTTPError):
            httpx.get(url.replace("https", "http") + "/healthz", timeout=5)


def test_serve_refuses_half_a_tls_setup(workspaces, tmp_path):
    cert, _ = _certificate(tmp_path)
    result = _cli("serve", "--workspaces", str(workspaces), "--certfile", str(cert))
    assert result.returncode == 2 and "both --certfile and --keyfile" in result.stderr


def _pem_key(path: Path, *, pass_phrase: bytes | None = None) -> Path:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    encryption = (
        serialization.BestAvailableEncryption(pass_phrase)
        if pass_phrase
        else serialization.NoEncryption()
    )
    path.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )
    )
    return path


def test_serve_names_the_tls_file_that_cannot_be_used(workspaces, tmp_path):
    cert, key = _certificate(tmp_path)
    other = _pem_key(tmp_path / "other.pem")
    locked = _pem_key(tmp_path / "locked.pem", pass_phrase=b"secret")
    cases = [
        ((key, cert), f"--certfile {key} holds no PEM certificate; give the PEM certificate file."),
        (
            (cert, other),
            f"--certfile {cert} and --keyfile {other} cannot be loaded (KEY_VALUES_MISMATCH); give "
            "a PEM certificate and the private key it was made for.",
        ),
        (
            (cert, locked),
            f"--keyfile {locked}: the key is encrypted; give the key without a pass phrase "
            "(`openssl pkey -in locked.pem -out plain.key`) and keep that file private.",
        ),
    ]
    for (certfile, keyfile), said in cases:
        tls = ("--certfile", str(certfile), "--keyfile", str(keyfile))
        result = _cli("serve", "--workspaces", str(workspaces), "--port", "0", *tls)
        assert result.returncode == 2, result.stderr
        assert " ".join(result.stderr.split()) == f"error: {said}"


def test_a_host_that_is_no_address_here_says_so(workspaces):
    result = _cli("serve", "--workspaces", str(workspaces), "--host", "999.1.1.1")
    assert result.returncode == 2, result.stderr
    assert "give --host an address of this machine" in result.stderr


def test_a_port_in_use_is_one_clear_error(workspaces):
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = str(taken.getsockname()[1])
        result = _cli("serve", "--workspaces", str(workspaces), "--port", port)
    assert result.returncode in (1, 2), result.stderr
    assert "Serving" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"cannot listen on 127.0.0.1:{port}" in lines[0], result.stderr


def test_port_zero_says_the_real_port_and_sigterm_is_a_normal_stop(workspaces):
    import signal
    import time

    command = [TALLYCLERK, "serve", "--workspaces", str(workspaces), "--port", "0"]
    env = os.environ | {"NO_COLOR": "1"}
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    try:
        said = process.stderr.readline()
        port = re.search(r"http://127\.0\.0\.1:(\d+)$", said.strip())
        assert port and port.group(1) != "0", said
        url = f"http://127.0.0.1:{port.group(1)}/healthz"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "serve did not answer"
                time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        rest = process.stderr.read()
        assert process.wait(timeout=30) == 0, rest
        assert "error" not in rest, rest
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_the_listening_socket_is_tcp_by_name_so_answers_are_not_held_back():
    # asyncio disables Nagle's algorithm only on connections of a socket made as IPPROTO_TCP;
    # without it every answer waited about 40 ms for the client's delayed ACK.
    import socket

    from api.serve_cli import _listen

    listening = _listen("127.0.0.1", 0)
    try:
        assert listening.proto == socket.IPPROTO_TCP
        assert listening.getsockname()[1] > 0
    finally:
        listening.close()
