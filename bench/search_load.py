"""Load test of the search server: N concurrent clients for T seconds on localhost.

    python bench/search_load.py                       # demo digits index, 50 clients, 30 s
    python bench/search_load.py --index=photos.index --clients=50 --seconds=30 --upload_fraction=0.2

Starts `sslzoo-index serve` (`python -m sslzoo.train.index serve`) on a free
127.0.0.1 port in its own process, then runs `--clients` threads, each with its own
keep-alive connection, sending text queries (GET /api/search?text=..&k=10) and a
fraction of image uploads (POST /api/search) until the deadline. Reports requests/s,
p50/p90/p99/max latency and the error count (any non-200 answer, timeout or
connection failure). Traffic goes to 127.0.0.1 only; every loop is bounded in time.
Without --index it builds a demo index: the 1,000 bundled test digits as PNG files
and the tiny image/text encoder of tests/search_helpers.py.
"""
import argparse
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def demo_index(folder):
    """Builds the demo digits index under `folder`; returns (index dir, a sample PNG path)."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
    from search_helpers import export_text_image_encoder, write_digit_folder

    from sslzoo.search import Index

    encoder = export_text_image_encoder(os.path.join(folder, "encoder"))
    paths = write_digit_folder(os.path.join(folder, "media"), per_class=100)
    index = Index(encoder, backend="faiss")
    index.add(os.path.join(folder, "media"))
    return index.save(os.path.join(folder, "index")), paths[3][0]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port, process, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/api/info")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("server did not answer in time")


def client(port, deadline, upload, upload_fraction, seed, out):
    rng = random.Random(seed)
    latencies, errors = [], 0
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        try:
            if upload is not None and rng.random() < upload_fraction:
                connection.request("POST", "/api/search?k=10", body=upload, headers={"Content-Type": "image/png"})
            else:
                text = f"a photo of the number {rng.choice(WORDS)}".replace(" ", "%20")
                connection.request("GET", f"/api/search?k=10&text={text}")
            response = connection.getresponse()
            body = response.read()
            ok = response.status == 200 and b'"results"' in body
        except (OSError, http.client.HTTPException):
            ok = False
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        latencies.append(time.perf_counter() - started)
        errors += not ok
    connection.close()
    out.append((latencies, errors))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", default=None)
    parser.add_argument("--image", default=None, help="PNG/JPEG to upload (demo: a digit)")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--upload_fraction", type=float, default=0.2)
    args = parser.parse_args()
    if not 1 <= args.clients <= 500 or not 0 < args.seconds <= 600:
        raise SystemExit("--clients must be in [1, 500] and --seconds in (0, 600]")
    with tempfile.TemporaryDirectory(prefix="sslzoo_load_") as folder:
        index, image = (args.index, args.image) if args.index else demo_index(folder)
        upload = open(image, "rb").read() if image else None
        port = free_port()
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        log = open(os.path.join(folder, "server.log"), "wb")  # a file: a full, unread pipe would stall the server
        server = subprocess.Popen([sys.executable, "-m", "sslzoo.train.index", "serve", f"--index={index}",
                                   f"--port={port}", "--max_k=100"], env=env, stdout=log, stderr=log)
        try:
            wait_ready(port, server)
            results = []
            deadline = time.perf_counter() + args.seconds
            threads = [threading.Thread(target=client, args=(port, deadline, upload, args.upload_fraction, n, results))
                       for n in range(args.clients)]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(args.seconds + 30)
            elapsed = time.perf_counter() - started
        finally:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
            log.close()
    latencies = np.concatenate([np.asarray(lat) for lat, _ in results]) * 1000
    errors = sum(e for _, e in results)
    report = {"clients": args.clients, "seconds": round(elapsed, 1), "requests": int(len(latencies)),
              "requests_per_s": round(len(latencies) / elapsed, 1), "errors": int(errors),
              "upload_fraction": args.upload_fraction,
              **{f"p{q}_ms": round(float(np.percentile(latencies, q)), 1) for q in (50, 90, 99)},
              "max_ms": round(float(latencies.max()), 1), "cpus": os.cpu_count()}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
