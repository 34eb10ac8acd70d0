"""Helpers for model-update tests: real archives (good and hostile), and a server that misbehaves."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import socket
import tarfile
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from edgeship.publish.archive import archive_folder


def variant(packaged: Path, out: Path, *, version: int, edit: Callable[[dict[str, Any]], None] | None = None) -> Path:
    """A copy of a packaged folder as another version (same weights), model.json edited by ``edit``."""
    shutil.copytree(packaged, out)
    spec = json.loads((out / "model.json").read_text())
    spec["version"] = version
    spec["source"] = f"{spec['name']}:{version}"
    if edit is not None:
        edit(spec)
    (out / "model.json").write_text(json.dumps(spec, indent=2))
    return out


def write_archive(folder: Path, path: Path) -> tuple[Path, str]:
    data = archive_folder(folder)
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def hostile_archive(path: Path, members: list[tarfile.TarInfo], payload: bytes = b"x") -> tuple[Path, str]:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for info in members:
            if info.isfile():
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
            else:
                tar.addfile(info)
    path.write_bytes(raw.getvalue())
    return path, hashlib.sha256(raw.getvalue()).hexdigest()


def member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


class TruncatingServer(ThreadingHTTPServer):
    """Promises the whole file in Content-Length, sends only ``keep`` bytes, then closes."""

    daemon_threads = True

    def __init__(self, data: bytes, keep: int) -> None:
        self.data, self.keep = data, keep
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", str(len(outer.data)))
                self.end_headers()
                self.wfile.write(outer.data[: outer.keep])
                self.wfile.flush()
                self.close_connection = True

        super().__init__(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/model.tar.gz"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def int8_copy(packaged: Path, out: Path) -> Path:
    """The packaged graph quantized to int8 by onnxruntime as ``sentiment:2``, its parity sample rescored."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from edgeship.packager.pipeline import parity_sample

    shutil.copytree(packaged, out)
    (out / "model.onnx").unlink()
    quantize_dynamic(packaged / "model.onnx", out / "model.onnx", weight_type=QuantType.QInt8)
    spec = json.loads((out / "model.json").read_text())
    spec.update(
        version=2,
        source="sentiment:2",
        quantization="int8",
        onnx_sha256=hashlib.sha256((out / "model.onnx").read_bytes()).hexdigest(),
    )
    (out / "model.json").write_text(json.dumps(spec))
    spec["parity_sample"] = parity_sample(out, tuple(spec["parity_sample"]["texts"]))
    (out / "model.json").write_text(json.dumps(spec))
    return out
