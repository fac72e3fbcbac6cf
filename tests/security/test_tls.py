"""`serve --tls-cert --tls-key`: HTTPS with a self-signed certificate made here, refused pairs named at start."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from modelpilot.config import load_settings
from modelpilot.registry import Registry
from modelpilot.serving.plan import TrafficPlan
from modelpilot.serving.traffic import TrafficPlans
from tests.serving.models import register_models
from tests.serving.server_process import ServerProcess


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    registry = Registry.open(load_settings(home=home, actor="tester"))
    register_models(registry, tmp_path / "src")
    TrafficPlans(registry.store).set(TrafficPlan(model="credit", stable=1), actor="tester", reason="tls")
    registry.store.close()
    return home


@pytest.mark.slow
def test_serve_speaks_https_with_the_given_certificate(home: Path, tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    args = ("--tls-cert", str(cert), "--tls-key", str(key))
    trust = ssl.create_default_context(cafile=str(cert))
    with ServerProcess(home, args=args, verify=trust) as server:
        assert server.url.startswith("https://")
        body = {"inputs": [{"name": "x1", "datatype": "FP64", "shape": [1], "data": [0.5]},
                           {"name": "x2", "datatype": "FP64", "shape": [1], "data": [0.1]}]}  # fmt: skip
        r = httpx.post(f"{server.url}/v2/models/credit/infer", json=body, verify=trust, timeout=10)
        assert r.status_code == 200, r.text
        with pytest.raises(httpx.ConnectError):  # a client that does not trust the certificate stops
            httpx.get(f"{server.url}/v2/health/live", timeout=5)
        with pytest.raises(httpx.RemoteProtocolError):  # plain HTTP gets no answer
            httpx.get(f"http://127.0.0.1:{server.port}/v2/health/live", timeout=5)


def test_a_missing_key_or_a_mismatched_pair_is_refused_at_start(home: Path, tmp_path: Path) -> None:
    cert, _ = _self_signed(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    _, wrong_key = _self_signed(other)
    base = [sys.executable, "-m", "modelpilot", "--home", str(home), "serve", "--port", "0"]
    alone = subprocess.run([*base, "--tls-cert", str(cert)], capture_output=True, text=True, timeout=60)
    assert alone.returncode != 0 and "serving.tls_key (--tls-key) is missing" in " ".join(alone.stderr.split())
    pair = subprocess.run(
        [*base, "--tls-cert", str(cert), "--tls-key", str(wrong_key)], capture_output=True, text=True, timeout=60
    )
    assert pair.returncode != 0 and "do not make a TLS key pair" in " ".join(pair.stderr.split())
