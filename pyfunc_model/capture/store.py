"""Where capture files live: a folder or an S3 prefix, behind the same three calls.

A file is visible under its final name only once complete (a folder write goes to a dot-file and
is renamed; an S3 PUT is atomic), so a reader never sees half a file. Retrying a write under the
same key replaces, never duplicates. S3 calls have short timeouts: an unreachable S3 costs the
background writer a few seconds, never a request.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

SUFFIX = ".parquet"


class CaptureStore(Protocol):
    uri: str

    def put(self, key: str, data: bytes) -> None: ...
    def keys(self) -> list[str]: ...
    def get(self, key: str) -> bytes: ...


class FolderStore:
    def __init__(self, folder: str | Path) -> None:
        self.root = Path(folder)
        self.uri = str(self.root)

    def put(self, key: str, data: bytes) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def keys(self) -> list[str]:
        if not self.root.exists():
            raise FileNotFoundError(f"capture folder not found: {self.root}")
        return sorted(
            str(p.relative_to(self.root)) for p in self.root.rglob(f"*{SUFFIX}") if not p.name.startswith(".")
        )

    def get(self, key: str) -> bytes:
        return (self.root / key).read_bytes()


class S3Store:
    def __init__(self, uri: str, endpoint_url: str | None = None) -> None:
        import boto3
        from botocore.config import Config

        self.uri = uri.rstrip("/")
        self.bucket, _, prefix = self.uri.removeprefix("s3://").partition("/")
        self.prefix = f"{prefix}/" if prefix else ""
        config = Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 2, "mode": "standard"})
        self.client = boto3.client("s3", endpoint_url=endpoint_url, config=config)

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data)

    def keys(self) -> list[str]:
        out: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
            out.extend(
                obj["Key"][len(self.prefix) :] for obj in page.get("Contents", []) if obj["Key"].endswith(SUFFIX)
            )
        return sorted(out)

    def get(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read()


def open_store(uri: str, s3_endpoint: str | None = None) -> CaptureStore:
    """``s3://bucket/prefix`` or a folder (``file://`` accepted)."""
    if uri.startswith("s3://"):
        return S3Store(uri, s3_endpoint)
    return FolderStore(uri.removeprefix("file://"))
