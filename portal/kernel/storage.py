"""File storage behind a small interface; the local-folder backend is the embedded default."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Protocol


class StorageError(Exception):
    """A key was missing or unusable."""


class Storage(Protocol):
    """Where uploaded and generated files live."""

    def put(self, data: bytes, *, prefix: str, suffix: str = "") -> str: ...

    def get(self, key: str) -> bytes: ...

    def delete(self, key: str) -> None: ...

    def exists(self, key: str) -> bool: ...


class LocalStorage:
    """Files in a local folder; keys are relative paths made by put()."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise StorageError(f"key outside storage: {key!r}")
        return path

    def put(self, data: bytes, *, prefix: str, suffix: str = "") -> str:
        key = f"{prefix.strip('/')}/{secrets.token_hex(16)}{suffix}"
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        return key

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise StorageError(f"missing file: {key}") from exc

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()
