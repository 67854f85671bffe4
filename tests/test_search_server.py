"""The search server's JSON API over a real digits index: results, uploads, limits, path traversal,
malformed requests (4xx JSON, never a traceback); and the `sslzoo-index` command end to end."""
import http.client
import json
import os
import socket
import subprocess
import sys
import threading

import numpy as np
import pytest

from search_helpers import export_text_image_encoder, train_linear_digits, write_digit_folder
from sslzoo.search import Index
from sslzoo.search.server import make_server

MAX_UPLOAD = 64 * 1024


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("server")
    encoder = export_text_image_encoder(root / "encoder", *train_linear_digits())
    media = root / "media"
    paths = write_digit_folder(str(media), per_class=12)
    outside = root / "secret.png"
    outside.write_bytes(open(paths[5][0], "rb").read())
    os.symlink(outside, media / "5" / "zz_link.png")  # inside the root, pointing outside it
    index = Index(encoder, backend="faiss")
    index.add(str(media))
    folder = index.save(root / "index")
    server = make_server(Index.load(folder), max_upload_bytes=MAX_UPLOAD, max_k=50)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"server": server, "port": server.server_address[1], "paths": paths, "root": root, "index": folder,
           "encoder": encoder}
    server.shutdown()
    server.server_close()


def request(served, method, path, body=None, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", served["port"], timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def api(served, method, path, body=None, headers=None):
    status, headers, data = request(served, method, path, body, headers)
    assert headers["Content-Type"] == "application/json", (status, data[:200])
    assert b"Traceback" not in data and b"File \"" not in data
    return status, json.loads(data)


def test_binds_loopback_by_default(served):
    assert served["server"].server_address[0] == "127.0.0.1"
    # ... and so does the command: `sslzoo-index serve` without --host.
    result = subprocess.run([sys.executable, "-m", "sslzoo.train.index", "--help"], capture_output=True, text=True,
                            timeout=120)
    assert "--host: Address to bind (127.0.0.1: this machine only).\n    (default: '127.0.0.1')" in result.stdout


def test_page_has_search_box_and_upload(served):
    status, headers, page = request(served, "GET", "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b'id="q"' in page and b'type="file"' in page and b"/api/search" in page


def test_text_search_returns_the_digit_and_fetchable_images(served):
    status, payload = api(served, "GET", "/api/search?text=a%20photo%20of%20the%20number%20three&k=10")
    assert status == 200 and payload["space"] == "joint"
    hits = payload["results"]
    assert len(hits) == 10 and sum(h["label"] == "3" for h in hits) >= 9
    assert all("path" not in h for h in hits)  # no absolute paths leak
    status, headers, data = request(served, "GET", hits[0]["url"])
    assert status == 200 and headers["Content-Type"] == "image/png" and data[:4] == b"\x89PNG"


def test_upload_raw_multipart_and_json_queries(served):
    png = open(served["paths"][7][3], "rb").read()
    status, payload = api(served, "POST", "/api/search?k=5", png, {"Content-Type": "image/png"})
    assert status == 200 and [h["label"] for h in payload["results"]].count("7") >= 4
    boundary = "sslzooboundary"
    multipart = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"q.png\"\r\n"
                 f"Content-Type: image/png\r\n\r\n").encode() + png + f"\r\n--{boundary}--\r\n".encode()
    status, payload = api(served, "POST", "/api/search?k=3", multipart,
                          {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert status == 200 and payload["results"][0]["label"] == "7"
    status, payload = api(served, "POST", "/api/search", json.dumps({"text": "two", "k": 4}),
                          {"Content-Type": "application/json"})
    assert status == 200 and len(payload["results"]) == 4 and payload["results"][0]["label"] == "2"
    status, payload = api(served, "POST", "/api/search?k=2", json.dumps({"vector": np.eye(10)[1].tolist()}),
                          {"Content-Type": "application/json"})
    assert status == 200 and payload["results"][0]["label"] == "1"


@pytest.mark.parametrize("path, status", [
    ("/api/search?text=one&k=0", 400), ("/api/search?text=one&k=51", 400), ("/api/search?text=one&k=ten", 400),
    ("/api/search?k=3", 400), ("/api/search?text=" + "x" * 1001, 400), ("/api/search?text=one&space=nope", 400),
    ("/api/nothing", 404), ("/media/abc", 404), ("/media/999999", 404), ("/media/-1", 404),
    ("/api/search?text=one&" + "&".join(f"f{i}=1" for i in range(30)), 400), ("/api/search?text=%ff%fe", 400),
])
def test_malformed_get_requests_are_4xx_json(served, path, status):
    assert api(served, "GET", path)[0] == status


def test_malformed_posts_are_4xx_json(served):
    big = b"\0" * (MAX_UPLOAD + 1)
    assert api(served, "POST", "/api/search", big, {"Content-Type": "image/png"})[0] == 413
    assert api(served, "POST", "/api/search", b"not an image", {"Content-Type": "image/png"})[0] == 415
    assert api(served, "POST", "/api/search", b"%PDF", {"Content-Type": "application/pdf"})[0] == 415
    assert api(served, "POST", "/api/search", b"{bad json", {"Content-Type": "application/json"})[0] == 400
    assert api(served, "POST", "/api/search", b"[1, 2]", {"Content-Type": "application/json"})[0] == 400
    status, payload = api(served, "POST", "/api/search", json.dumps({"vector": [1.0, 2.0]}),
                          {"Content-Type": "application/json"})
    assert status == 400 and "10 dimensions" in payload["error"]
    assert api(served, "POST", "/api/search", b"", {"Content-Type": "image/png"})[0] == 400
    assert api(served, "POST", "/api/search", b"x", {"Content-Type": "audio/wav"})[0] == 400  # no audio tower
    assert api(served, "POST", "/elsewhere", b"x", {"Content-Type": "image/png"})[0] == 404
    assert api(served, "POST", "/api/search", b"--x--", {"Content-Type": "multipart/form-data; boundary=x"})[0] == 400


def _raw_exchange(served, data):
    """Sends raw bytes, returns everything the server answers before it closes."""
    with socket.create_connection(("127.0.0.1", served["port"]), timeout=10) as raw:
        raw.sendall(data)
        chunks = []
        try:
            while True:
                chunk = raw.recv(4096)
                if not chunk:
                    break
                chunks.append(chunk)
        except ConnectionResetError:
            pass
    return b"".join(chunks)


def test_broken_request_lines_get_json_errors(served):
    answer = _raw_exchange(served, b"NONSENSE\r\n\r\n")  # no version: answered HTTP/0.9 style, body only
    assert answer.startswith(b'{"error"') and b"Traceback" not in answer
    answer = _raw_exchange(served, b"GET /api/search HTTP/1.1\r\n"
                           + b"".join(b"X-%d: 1\r\n" % i for i in range(120)) + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 431") and b'{"error"' in answer
    status, payload = api(served, "PUT", "/api/search", b"x")
    assert status == 501 and "error" in payload


def test_path_traversal_and_symlinks_cannot_escape_the_indexed_root(served):
    for path in ("/media/../../../../etc/passwd", "/media/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/../../etc/passwd",
                 "/media/1/../../secret.png", "/media//etc/passwd", "/media/0%00"):
        status, _, data = request(served, "GET", path)
        assert status == 404 and b"root:" not in data, path
    app = served["server"].app
    linked = [i for i, r in app.index.records.items() if r["path"].endswith("zz_link.png")]
    assert len(linked) == 1 and app.file_of(linked[0]) is None
    assert request(served, "GET", f"/media/{linked[0]}")[0] == 404
    # A tampered record pointing outside the root is refused too.
    victim = next(iter(app.index.records))
    saved, app.index.records[victim]["path"] = app.index.records[victim]["path"], "/etc/passwd"
    try:
        assert request(served, "GET", f"/media/{victim}")[0] == 404
    finally:
        app.index.records[victim]["path"] = saved


def test_media_range_requests(served):
    _, payload = api(served, "GET", "/api/search?text=four&k=1")
    url = payload["results"][0]["url"]
    status, headers, data = request(served, "GET", url, headers={"Range": "bytes=0-3"})
    assert status == 206 and data == b"\x89PNG" and headers["Content-Range"].startswith("bytes 0-3/")
    assert request(served, "GET", url, headers={"Range": "bytes=999999-"})[0] == 416


def test_command_line_build_and_query(served, tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    media = tmp_path / "media"
    write_digit_folder(str(media), per_class=3)
    (media / "bad.jpg").write_bytes(b"\xff\xd8 truncated")
    command = [sys.executable, "-m", "sslzoo.train.index"]
    built = subprocess.run(command + ["build", f"--encoder={served['encoder']}", f"--media={media}",
                                      f"--index={tmp_path / 'idx'}", "--backend=numpy"],
                           capture_output=True, text=True, env=env, timeout=120)
    assert built.returncode == 0, built.stderr[-2000:]
    assert "indexed 30 items" in built.stdout and "bad.jpg" in built.stdout
    queried = subprocess.run(command + ["query", f"--index={tmp_path / 'idx'}", "--text=number eight",
                                        "-k", "3", "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert queried.returncode == 0, queried.stderr[-2000:]
    hits = json.loads(queried.stdout)
    assert len(hits) == 3 and hits[0]["label"] == "8" and hits[0]["score"] >= hits[2]["score"]
    refused = subprocess.run(command + ["query", f"--index={tmp_path / 'idx'}", "--text=x",
                                        f"--encoder={tmp_path / 'idx'}"], capture_output=True, text=True,
                             env=env, timeout=120)
    assert refused.returncode == 2 and "not a SavedModel" in refused.stderr and "Traceback" not in refused.stderr
