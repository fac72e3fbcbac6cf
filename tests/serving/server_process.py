"""Start `modelpilot serve` (or `up`) as a real process on a free loopback port, wait until ready, stop it."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """One `modelpilot serve` process."""

    def __init__(
        self,
        home: Path,
        *,
        store: str | None = None,
        env: dict[str, str] | None = None,
        args: tuple[str, ...] = (),
        command: str = "serve",
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.port = free_port()
        self.verify = verify  # a context trusting the server's certificate when it speaks HTTPS
        self.url = f"{'https' if '--tls-cert' in args else 'http'}://127.0.0.1:{self.port}"
        self.log = home / f"serve-{self.port}.log"
        cmd = [sys.executable, "-m", "modelpilot", "--home", str(home), "--actor", "server"]
        if store:
            cmd += ["--store", store]
        cmd += [command, "--host", "127.0.0.1", "--port", str(self.port), *args]
        full_env = {**os.environ, "MODELPILOT_SERVING__PLAN_POLL_S": "0.25", **(env or {})}
        self._log_file = self.log.open("wb")
        self.proc = subprocess.Popen(cmd, stdout=self._log_file, stderr=subprocess.STDOUT, env=full_env)

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/v2/health/ready", timeout=1.0, verify=self.verify).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not ready after {timeout} s:\n{self.log.read_text()}")

    def terminate(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log_file.close()
        return int(self.proc.returncode)

    def __enter__(self) -> ServerProcess:
        self.wait_ready()
        return self

    def __exit__(self, *exc: object) -> None:
        self.terminate()
