"""Content-addressed artifact store: ``<root>/sha256/<digest>``, written atomically, verified before every load.

Example:
    >>> import tempfile, pathlib
    >>> store = ArtifactStore(pathlib.Path(tempfile.mkdtemp()))
    >>> digest, size, created = store.put_bytes(b"weights")
    >>> size, created, store.verified_path(digest).read_bytes()
    (7, True, b'weights')
    >>> store.put_bytes(b"weights")[2]  # the same content is stored once
    False
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import BinaryIO

from modelpilot.errors import ArtifactError, InvalidInputError

__all__ = ["ArtifactStore", "sha256_file"]

_CHUNK = 1 << 20
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


def _copy_hashing(src: BinaryIO, dst: BinaryIO) -> tuple[str, int]:
    h, size = hashlib.sha256(), 0
    while chunk := src.read(_CHUNK):
        h.update(chunk)
        dst.write(chunk)
        size += len(chunk)
    return h.hexdigest(), size


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


class ArtifactStore:
    """Immutable blobs named by their SHA-256.

    Parameters
    ----------
    root
        The folder that holds ``sha256/`` (``<home>/artifacts`` by default).
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, digest: str) -> Path:
        """Where the blob with this digest lives (whether or not it exists)."""
        if not _DIGEST.fullmatch(digest):
            raise InvalidInputError(
                f"artifact digest {digest!r} is not a sha256 hex digest",
                hint="give the 64-character digest that `modelpilot show` prints",
            )
        return self.root / "sha256" / digest

    def put_file(self, src: Path) -> tuple[str, int, bool]:
        """Copy a file in; returns ``(digest, size, created)`` where ``created`` is false if it was there."""
        try:
            with src.open("rb") as f:
                return self._put_stream(f)
        except FileNotFoundError as exc:
            raise InvalidInputError(f"artifact file {src} does not exist", hint="check the path") from exc
        except IsADirectoryError as exc:
            raise InvalidInputError(
                f"artifact {src} is a folder, not a file", hint="give the model file itself"
            ) from exc
        except PermissionError as exc:
            raise InvalidInputError(
                f"artifact file {src} cannot be read (permission denied)", hint="check the file's permissions"
            ) from exc

    def put_bytes(self, data: bytes) -> tuple[str, int, bool]:
        """Store bytes; returns ``(digest, size, created)``."""
        import io

        return self._put_stream(io.BytesIO(data))

    def _put_stream(self, src: BinaryIO) -> tuple[str, int, bool]:
        tmp_dir = self.root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=tmp_dir)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                digest, size = _copy_hashing(src, out)
                out.flush()
                os.fsync(out.fileno())
            final = self.path(digest)
            if final.exists():
                tmp.unlink()
                return digest, size, False
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp.chmod(0o444)
            os.replace(tmp, final)
            return digest, size, True
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def exists(self, digest: str) -> bool:
        """True when a blob with this digest is stored."""
        return self.path(digest).is_file()

    def verified_path(self, digest: str) -> Path:
        """The blob's path after checking that its content still hashes to ``digest``."""
        path = self.path(digest)
        if not path.is_file():
            raise ArtifactError(
                f"artifact sha256:{digest} is missing from {path.parent}",
                hint="restore the artifact folder from backup, or register the model again",
            )
        actual = sha256_file(path)
        if actual != digest:
            raise ArtifactError(
                f"artifact sha256:{digest} does not match its content (found sha256:{actual}); refusing to load it",
                hint="the file was changed after registration: restore it from backup or register a new version",
                details={"expected": digest, "actual": actual, "path": str(path)},
            )
        return path

    def remove(self, digest: str) -> None:
        """Delete a blob (used to undo a failed registration)."""
        self.path(digest).unlink(missing_ok=True)
