"""DIV2K download against a local Range-capable HTTP server serving tiny zips with the official names."""

from __future__ import annotations

import io
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image

from conftest_data import isolated_cache, random_rgb  # noqa: F401  (autouse fixture)
from wdsr_lib.data import DataError, download_div2k, load_pairs

COUNTS = {"train": 3, "valid": 2}


def _png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _div2k_zips(counts=COUNTS) -> dict[str, bytes]:
    """Official archive names and inner layout, 8x8 HR and 4x4 x2 LR images."""
    zips = {}
    for part, first in (("train", 1), ("valid", 801)):
        names = [f"{first + i:04d}" for i in range(counts[part])]
        hr = {n: random_rgb(8, 8, seed=int(n)) for n in names}
        zips[f"DIV2K_{part}_HR.zip"] = _zip({f"DIV2K_{part}_HR/{n}.png": _png_bytes(a) for n, a in hr.items()})
        zips[f"DIV2K_{part}_LR_bicubic_X2.zip"] = _zip(
            {f"DIV2K_{part}_LR_bicubic/X2/{n}x2.png": _png_bytes(a[::2, ::2]) for n, a in hr.items()}
        )
    return zips


class _Handler(BaseHTTPRequestHandler):
    """Serves ``server.files``; honours ``Range: bytes=N-`` (206 / 416) unless ``server.ignore_range``;
    ``server.drop_after[name] = n`` sends only n bytes of the next response for ``name``, then hangs up."""

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        srv = self.server
        name = self.path.rsplit("/", 1)[-1]
        srv.requests.append((name, self.headers.get("Range")))
        if name not in srv.files:
            self.send_error(404)
            return
        data, start = srv.files[name], 0
        rng = self.headers.get("Range")
        if rng and not srv.ignore_range:
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = srv.drop_after.pop(name, None)
        self.wfile.write(body if cut is None else body[:cut])
        if cut is not None:
            self.wfile.flush()
            self.close_connection = True


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.files, srv.requests, srv.drop_after, srv.ignore_range = _div2k_zips(), [], {}, False
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/DIV2K/"
    yield srv
    srv.shutdown()
    srv.server_close()


def _get(srv, root, **kw):
    return download_div2k(root, scales=(2,), base_url=srv.url, progress=False, expected_counts=COUNTS, **kw)


def test_full_download_extracts_the_official_layout(server, tmp_path):
    root = tmp_path / "data"
    _get(server, root)
    assert len(list((root / "DIV2K_train_HR").glob("*.png"))) == 3
    assert len(list((root / "DIV2K_valid_LR_bicubic" / "X2").glob("*.png"))) == 2
    assert sorted(p.name for p in root.iterdir()) == [
        "DIV2K_train_HR", "DIV2K_train_LR_bicubic", "DIV2K_valid_HR", "DIV2K_valid_LR_bicubic",
    ]  # no zip, .part or temporary folder left behind
    assert [p.name for p in load_pairs("div2k", 2, "val", root=str(root))] == ["0801", "0802"]


def test_second_call_is_a_no_op(server, tmp_path):
    _get(server, tmp_path / "data")
    server.requests.clear()
    _get(server, tmp_path / "data")
    assert server.requests == []


def test_dropped_connection_resumes_with_a_range_request(server, tmp_path):
    server.drop_after["DIV2K_train_HR.zip"] = 100
    _get(server, tmp_path / "data")
    hr_requests = [r for r in server.requests if r[0] == "DIV2K_train_HR.zip"]
    assert hr_requests == [("DIV2K_train_HR.zip", None), ("DIV2K_train_HR.zip", "bytes=100-")]
    assert len(list((tmp_path / "data" / "DIV2K_train_HR").glob("*.png"))) == 3


def test_partial_file_resumes_across_calls(server, tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    data = server.files["DIV2K_train_HR.zip"]
    (root / "DIV2K_train_HR.zip.part").write_bytes(data[:57])
    _get(server, root)
    assert ("DIV2K_train_HR.zip", "bytes=57-") in server.requests
    assert len(list((root / "DIV2K_train_HR").glob("*.png"))) == 3


def test_server_ignoring_range_restarts_the_file(server, tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    (root / "DIV2K_train_HR.zip.part").write_bytes(b"garbage that must not be kept")
    server.ignore_range = True
    _get(server, root)
    assert len(list((root / "DIV2K_train_HR").glob("*.png"))) == 3


def test_interruption_beyond_retries_keeps_the_part_file(server, tmp_path):
    root = tmp_path / "data"
    server.drop_after["DIV2K_train_HR.zip"] = 40
    with pytest.raises(DataError, match="interrupted after 40 bytes"):
        _get(server, root, retries=0)
    assert (root / "DIV2K_train_HR.zip.part").stat().st_size == 40
    _get(server, root)
    assert ("DIV2K_train_HR.zip", "bytes=40-") in server.requests


def test_corrupt_zip_is_refused_and_nothing_is_extracted(server, tmp_path):
    data = bytearray(server.files["DIV2K_train_HR.zip"])
    data[80] ^= 0xFF  # inside the first member's stored bytes: CRC mismatch
    server.files["DIV2K_train_HR.zip"] = bytes(data)
    with pytest.raises(DataError, match="corrupt"):
        _get(server, tmp_path / "data")
    assert not (tmp_path / "data" / "DIV2K_train_HR").exists()
    assert not list((tmp_path / "data").glob("*.zip*"))


def test_non_zip_download_is_refused(server, tmp_path):
    server.files["DIV2K_train_HR.zip"] = b"<html>maintenance</html>"
    with pytest.raises(DataError, match="not a valid zip"):
        _get(server, tmp_path / "data")


@pytest.mark.parametrize("evil", ["../evil.png", "/abs/evil.png", "DIV2K_train_HR/../../evil.png"])
def test_entries_escaping_the_root_are_refused(server, tmp_path, evil):
    entries = {f"DIV2K_train_HR/{i:04d}.png": _png_bytes(random_rgb(8, 8)) for i in (1, 2, 3)}
    entries[evil] = b"pwned"
    server.files["DIV2K_train_HR.zip"] = _zip(entries)
    with pytest.raises(DataError, match="outside"):
        _get(server, tmp_path / "data")
    assert not list(tmp_path.rglob("evil.png"))
    assert not (tmp_path / "data" / "DIV2K_train_HR").exists()


def test_wrong_image_count_is_refused(server, tmp_path):
    with pytest.raises(DataError, match="expected 5"):
        download_div2k(tmp_path / "data", scales=(2,), base_url=server.url, progress=False,
                       expected_counts={"train": 5, "valid": 2})


def test_http_error_is_one_sentence(server, tmp_path):
    del server.files["DIV2K_valid_HR.zip"]
    with pytest.raises(DataError, match="HTTP 404"):
        _get(server, tmp_path / "data")
