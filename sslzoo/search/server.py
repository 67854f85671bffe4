"""The search web app: a page and a JSON API over an `Index`, standard library only.

Routes:
  GET  /                           the page (search box, file upload, result grid, players)
  GET  /api/search?text=..&k=..    text query -> {"results": [...], "space", "took_ms"}
  POST /api/search?k=..            body: an image/audio/video file (raw, with its
                                   Content-Type, or multipart/form-data field "file"),
                                   or JSON {"text": ...} / {"vector": [...]}
  GET  /api/info                   index size, spaces, modalities, limits
  GET  /media/<id>                 the indexed file of item <id> (Range requests for players)

Safety: binds 127.0.0.1 unless told otherwise; files are served only by item id and
only when their real path lies under an indexed root (no symlink or `..` escape);
uploads above `max_upload_bytes` and k above `max_k` are refused; every client
error is a 4xx JSON `{"error": ...}`, an internal failure a 500 without traceback.
`http.server` is enough: one process, threads per request, search itself is
thread-safe (faiss/numpy reads, TensorFlow concrete functions).
"""
import email.parser
import http.server
import json
import mimetypes
import os
import sys
import tempfile
import threading
import time
import urllib.parse

import numpy as np

from sslzoo.search import media as media_lib
from sslzoo.search.page import PAGE

MAX_TEXT = 1000
UPLOAD_TYPES = {"image": media_lib.IMAGE_EXTENSIONS, "audio": media_lib.AUDIO_EXTENSIONS,
                "video": media_lib.VIDEO_EXTENSIONS}


class ClientError(Exception):
    """A request the client must fix: (status, message)."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class SearchApp:
    """Request logic, independent of the HTTP plumbing.

    Args:
      index: a loaded `sslzoo.search.Index`.
      max_upload_bytes: largest request body accepted.
      max_k: largest k accepted.
    """

    def __init__(self, index, max_upload_bytes=10 * 2**20, max_k=100):
        self.index = index
        self.max_upload_bytes = int(max_upload_bytes)
        self.max_k = int(max_k)
        self.roots = [os.path.realpath(r) for r in index.roots]
        # One search at a time: each is a few ms of CPU, and concurrent TensorFlow calls plus
        # faiss OpenMP teams per request oversubscribe the cores (seen: 10 s stalls under 50
        # clients). Requests still overlap in parsing, decoding and I/O.
        self._search_lock = threading.Lock()
        try:
            import faiss

            faiss.omp_set_num_threads(1)  # one query per call: no use for a thread team
        except ImportError:
            pass
        for space in index.spaces:
            index.backend(space)  # build before threads race to
        try:
            self.modalities = index.encoder.modalities
        except ValueError as error:
            if "fingerprint" in str(error):
                raise
            self.modalities = ()

    def info(self):
        return {"items": len(self.index), "spaces": list(self.index.spaces), "modalities": list(self.modalities),
                "default_space": self.index.default_space, "max_k": self.max_k,
                "max_upload_bytes": self.max_upload_bytes}

    def parse_k(self, params):
        raw = params.get("k", ["10"])[-1]
        try:
            k = int(raw)
        except ValueError:
            raise ClientError(400, f"`k` must be an integer, got {raw[:20]!r}") from None
        if not 1 <= k <= self.max_k:
            raise ClientError(400, f"`k` must be between 1 and {self.max_k}, got {k}")
        return k

    def search(self, query, params, modality=None):
        k = self.parse_k(params)
        space = params.get("space", [None])[-1] or None
        if space is not None and space not in self.index.spaces:
            raise ClientError(400, f"`space` must be one of {list(self.index.spaces)}, got {space[:40]!r}")
        if modality in ("text", "image", "audio", "video") and modality not in self.modalities:
            raise ClientError(400, f"this index's encoder cannot embed {modality} (it has {list(self.modalities)})")
        started = time.perf_counter()
        try:
            with self._search_lock:
                hits = self.index.search(query, k=k, space=space, modality=modality)
        except media_lib.MediaError as error:
            raise ClientError(415, str(error).replace(tempfile.gettempdir(), "upload")) from None
        except ValueError as error:
            raise ClientError(400, str(error)) from None
        took = (time.perf_counter() - started) * 1000
        return {"results": [self.public(hit) for hit in hits], "space": hits[0]["space"] if hits else space,
                "took_ms": round(took, 2)}

    def public(self, hit):
        """What a client sees of a hit: no absolute paths, a URL by id."""
        out = {key: hit.get(key) for key in ("id", "score", "media", "start", "end", "label", "caption")}
        path = hit.get("path")
        out["name"] = os.path.basename(path) if path else None
        out["url"] = f"/media/{hit['id']}" if path and self.file_of(hit["id"]) else None
        return out

    def file_of(self, item):
        """The real path of item `item` if it is a file under an indexed root, else None."""
        record = self.index.records.get(item)
        if not record or not record.get("path"):
            return None
        real = os.path.realpath(record["path"].split("#")[0])
        for root in self.roots:
            if os.path.commonpath([real, root]) == root and os.path.isfile(real):
                return real
        return None

    def search_text(self, params):
        text = params.get("text", [""])[-1]
        if not text.strip():
            raise ClientError(400, "`text` must be a non-empty query string")
        if len(text) > MAX_TEXT:
            raise ClientError(400, f"`text` must be at most {MAX_TEXT} characters, got {len(text)}")
        return self.search(text, params, "text")

    def search_body(self, params, content_type, body):
        kind = content_type.split(";")[0].strip().lower()
        if kind == "application/json":
            try:
                payload = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                raise ClientError(400, "body must be valid JSON") from None
            if not isinstance(payload, dict):
                raise ClientError(400, "JSON body must be an object with `text` or `vector`")
            merged = {**params, **{key: [str(payload[key])] for key in ("k", "space") if key in payload}}
            if isinstance(payload.get("text"), str):
                return self.search_text({**merged, "text": [payload["text"]]})
            if isinstance(payload.get("vector"), list):
                try:
                    vector = np.asarray(payload["vector"], np.float32)
                except (TypeError, ValueError):
                    raise ClientError(400, "`vector` must be a list of numbers") from None
                return self.search(vector, merged, "vector")
            raise ClientError(400, "JSON body must have `text` (string) or `vector` (list of numbers)")
        if kind == "multipart/form-data":
            kind, body = _multipart_file(content_type, body)
        modality = params.get("modality", [None])[-1] or kind.split("/")[0]
        if modality not in UPLOAD_TYPES:
            raise ClientError(415, f"upload must be an image, audio or video file, got type {kind[:60]!r}")
        if not body:
            raise ClientError(400, "upload is empty")
        if modality == "image":
            return self.search(media_lib.decode_image_bytes(body), params, "image") \
                if "image" in self.modalities else self.search(None, params, "image")
        extension = mimetypes.guess_extension(kind) or UPLOAD_TYPES[modality][0]
        if extension not in UPLOAD_TYPES[modality]:
            extension = UPLOAD_TYPES[modality][0]
        with tempfile.TemporaryDirectory(prefix="sslzoo_upload_") as folder:
            path = os.path.join(folder, "upload" + extension)
            with open(path, "wb") as f:
                f.write(body)
            import pathlib

            return self.search(pathlib.Path(path), params, modality)


def _multipart_file(content_type, body):
    """(content type, bytes) of the first file part of a multipart/form-data body."""
    message = email.parser.BytesParser().parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
    if not message.is_multipart():
        raise ClientError(400, "malformed multipart body")
    for part in message.get_payload():
        if part.get_filename() is not None or part.get_param("name", header="content-disposition") == "file":
            return part.get_content_type(), part.get_payload(decode=True) or b""
    raise ClientError(400, "multipart body has no `file` part")


def _query(url):
    """The query string as {name: [values]}; 400 when malformed or with too many fields."""
    try:
        return urllib.parse.parse_qs(url.query, keep_blank_values=True, max_num_fields=20, errors="strict")
    except (ValueError, UnicodeDecodeError):
        raise ClientError(400, "malformed query string (or more than 20 fields)") from None


class Handler(http.server.BaseHTTPRequestHandler):
    """HTTP plumbing: routes to `self.server.app`, JSON errors, Range for media files."""

    server_version = "sslzoo-search"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    timeout = 30  # seconds a connection may sit idle or trickle a request
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stall

    def send_error(self, code, message=None, explain=None):
        """http.server's own errors (bad request line, 414, 501...) as JSON too."""
        body = json.dumps({"error": message or http.server.BaseHTTPRequestHandler.responses.get(
            code, ("error",))[0]}).encode("utf-8")
        self.close_connection = True
        try:
            self.send_response(code, message)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD" and code >= 200 and code not in (204, 304):
                self.wfile.write(body)
        except OSError:
            pass

    def log_message(self, format, *args):  # noqa: A002 - http.server's signature
        if getattr(self.server, "verbose", False):
            sys.stderr.write("%s %s\n" % (self.address_string(), format % args))

    def _send(self, status, body, content_type, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        for key, value in headers:
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status, payload):
        self._send(status, json.dumps(payload).encode("utf-8"), "application/json")

    def _guard(self, work):
        try:
            work()
        except ClientError as error:
            self._json(error.status, {"error": str(error)})
        except media_lib.MediaError as error:
            self._json(415, {"error": str(error).replace(tempfile.gettempdir(), "upload")})
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as error:  # noqa: BLE001 - never leak a traceback to the client
            sys.stderr.write(f"sslzoo-search: internal error on {self.command} {self.path[:200]}: "
                             f"{type(error).__name__}\n")
            self._json(500, {"error": "internal error"})

    def do_GET(self):  # noqa: N802 - http.server's naming
        self._guard(self._get)

    def do_HEAD(self):  # noqa: N802
        self._guard(self._get)

    def do_POST(self):  # noqa: N802
        self._guard(self._post)

    def _get(self):
        url = urllib.parse.urlsplit(self.path)
        params = _query(url)
        app = self.server.app
        if url.path in ("/", "/index.html"):
            self._send(200, PAGE.encode("utf-8"), "text/html; charset=utf-8",
                       [("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                         "script-src 'self' 'unsafe-inline'; img-src 'self' blob:; media-src 'self'")])
        elif url.path == "/api/search":
            self._json(200, app.search_text(params))
        elif url.path == "/api/info":
            self._json(200, app.info())
        elif url.path.startswith("/media/"):
            self._media(url.path[len("/media/"):])
        else:
            raise ClientError(404, "not found")

    def _post(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/api/search":
            raise ClientError(404, "not found")
        app = self.server.app
        length = self.headers.get("Content-Length")
        if length is None:
            raise ClientError(411, "Content-Length is required")
        try:
            length = int(length)
        except ValueError:
            raise ClientError(400, "Content-Length must be an integer") from None
        if length < 0 or length > app.max_upload_bytes:
            self.close_connection = True
            raise ClientError(413, f"upload must be at most {app.max_upload_bytes} bytes, got {length}")
        body = self.rfile.read(length)
        params = _query(url)
        content_type = self.headers.get("Content-Type", "application/octet-stream")
        self._json(200, app.search_body(params, content_type, body))

    def _media(self, item):
        if not item.isdigit() or len(item) > 18:
            raise ClientError(404, "no such item")
        path = self.server.app.file_of(int(item))
        if path is None:
            raise ClientError(404, "no such item")
        size = os.path.getsize(path)
        content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
        start, end, status = 0, size - 1, 200
        ranges = self.headers.get("Range", "")
        if ranges.startswith("bytes=") and "," not in ranges:
            first, _, last = ranges[len("bytes="):].partition("-")
            try:
                if first:
                    start, end = int(first), (int(last) if last else size - 1)
                else:
                    start = max(0, size - int(last))
            except ValueError:
                raise ClientError(416, "malformed Range") from None
            end = min(end, size - 1)
            if start > end:
                raise ClientError(416, "Range not satisfiable")
            status = 206
        with open(path, "rb") as f:
            f.seek(start)
            body = f.read(end - start + 1)
        headers = [("Accept-Ranges", "bytes"), ("Cache-Control", "max-age=3600")]
        if status == 206:
            headers.append(("Content-Range", f"bytes {start}-{end}/{size}"))
        self._send(status, body, content_type, headers)


class SearchServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


def make_server(index, host="127.0.0.1", port=0, max_upload_bytes=10 * 2**20, max_k=100, verbose=False):
    """A `ThreadingHTTPServer` for `index` (not yet serving; call `serve_forever`).

    port=0 picks a free port: read it from `server.server_address[1]`.
    """
    server = SearchServer((host, port), Handler)
    server.app = SearchApp(index, max_upload_bytes=max_upload_bytes, max_k=max_k)
    server.verbose = verbose
    return server


def serve(index, host="127.0.0.1", port=8080, max_upload_bytes=10 * 2**20, max_k=100):
    """Serves `index` until interrupted (Ctrl-C)."""
    server = make_server(index, host, port, max_upload_bytes, max_k, verbose=True)
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: bound to {host}: other machines can query this index and fetch its files "
              "(no authentication; put it behind a proxy that has some)", file=sys.stderr)
    print(f"serving {len(index)} items on http://{host}:{server.server_address[1]}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
