#!/usr/bin/env python3
"""Precision@10 of media search on trained exports: the issue's search targets.

CLIP (digits): the 1,000 test digits written as PNG files <label>/<n>.png, indexed
through `sslzoo-index build`; one text query per digit ("a photo of the number N",
N spelled out) through the command (`sslzoo-index query --json`) and through the web
page (`sslzoo-index serve` driven by Playwright with the system's Chromium: type the
query, wait for the result images to decode, read the labels under them).

MMV (AV-digits): the test clips written as video files <digit>_<direction>/<n>.mkv
(lossless FFV1, no audio track) and their soundtracks as WAV files; the videos are
indexed; text queries are one narration per (digit, direction) class and held-out
template (80), audio queries are 5 test soundtracks per digit (50). A text hit is a
video of the query's digit and direction, an audio hit one of its digit.

    python bench/search_targets.py --clip_export=runs/clip_digits/export/saved_model \
        --mmv_export=runs/mmv_avdigits/export/saved_model --work_dir=/tmp/search_targets

Prints one JSON line per measurement and a summary line.
"""
import argparse
import json
import os
import subprocess
import sys
import threading
import time

import numpy as np

CHROMIUM = os.environ.get("SSLZOO_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
INDEX_COMMAND = [sys.executable, "-m", "sslzoo.train.index"]


def run_index(*args):
    """`sslzoo-index ARGS` in a fresh interpreter; returns its stdout (raises with stderr on failure)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(INDEX_COMMAND + list(args), capture_output=True, text=True, env=env)
    if done.returncode:
        raise RuntimeError(f"sslzoo-index {' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return done.stdout


def precision(labels, is_hit, k=10):
    """Fraction of the first k labels for which is_hit(label) holds."""
    return float(np.mean([is_hit(label) for label in labels[:k]]))


# ------------------------------------------------------------------- CLIP digits
def write_test_digits(root):
    """The 1,000 test digits as root/<label>/<n>.png."""
    import tensorflow as tf

    from sslzoo.data.bundled_digits import digits

    images, labels = digits("test")
    for n, (image, label) in enumerate(zip(images, labels)):
        folder = os.path.join(root, str(int(label)))
        os.makedirs(folder, exist_ok=True)
        pixels = image if image.ndim == 3 else image[..., None]
        with open(os.path.join(folder, f"{n:04d}.png"), "wb") as f:
            f.write(tf.io.encode_png(pixels).numpy())
    return len(images)


def page_labels(index_dir, queries, k=10):
    """{query: [label of each result shown]} from the web page of `sslzoo-index serve`."""
    from playwright.sync_api import sync_playwright

    from sslzoo.search import Index
    from sslzoo.search.server import make_server

    server = make_server(Index.load(index_dir))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    shown = {}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            tab = browser.new_page(viewport={"width": 1100, "height": 800})
            for query in queries:
                tab.goto(url)
                tab.fill("#q", query)
                tab.select_option("#k", str(k))
                tab.click("#search")
                tab.wait_for_function(
                    "() => { const imgs = [...document.querySelectorAll('#results .hit img')];"
                    f" return imgs.length === {k} && imgs.every(i => i.complete && i.naturalWidth > 0); }}",
                    timeout=30_000)
                # Each hit's caption is "<score> <label>".
                captions = tab.eval_on_selector_all("#results .hit .score", "nodes => nodes.map(n => n.textContent)")
                shown[query] = [caption.split()[-1] for caption in captions]
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    return shown


def clip_targets(export, work_dir, web):
    from sslzoo.data import captions

    media, index = os.path.join(work_dir, "digits_test"), os.path.join(work_dir, "clip_index")
    count = write_test_digits(media)
    start = time.perf_counter()
    print(run_index("build", f"--encoder={export}", f"--media={media}", f"--index={index}").strip().splitlines()[-1])
    build_s = time.perf_counter() - start
    queries = {f"a photo of the number {name}": digit for digit, name in enumerate(captions.DIGIT_CLASS_NAMES)}
    results = {}
    for query, digit in queries.items():
        hits = json.loads(run_index("query", f"--index={index}", f"--text={query}", "--k=10", "--json"))
        results[query] = precision([h["label"] for h in hits], lambda label, d=digit: label == str(d))
    entry = {"target": "clip_digits text->image P@10", "indexed": count, "build_s": round(build_s, 1),
             "per_query": results, "mean": float(np.mean(list(results.values())))}
    print(json.dumps(entry), flush=True)
    summary = {"clip_command_p10": entry["mean"]}
    if web:
        shown = page_labels(index, list(queries))
        page = {q: precision(labels, lambda label, d=queries[q]: label == str(d)) for q, labels in shown.items()}
        entry = {"target": "clip_digits text->image P@10 through the web page", "per_query": page,
                 "mean": float(np.mean(list(page.values())))}
        print(json.dumps(entry), flush=True)
        summary["clip_page_p10"] = entry["mean"]
    return summary


# ----------------------------------------------------------------- MMV AV-digits
def write_av_test_clips(root, per_class_audio_queries=5):
    """AV-digits test clips: videos root/videos/<digit>_<direction>/<n>.mkv (FFV1, lossless, no
    audio track) and the soundtracks of the first clips with sound as root/audio/<digit>/<n>.wav.
    Returns (number of videos, {digit: [wav paths]})."""
    import wave

    import av

    from sslzoo.data.av_digits import DIRECTIONS, FPS, SAMPLE_RATE, av_digits

    data = av_digits("test")
    audio_queries = {}
    for n, (video, audio, has_audio, digit, direction) in enumerate(zip(
            data["video"], data["audio"], data["audio_mask"], data["label"], data["direction"])):
        folder = os.path.join(root, "videos", f"{int(digit)}_{DIRECTIONS[int(direction)]}")
        os.makedirs(folder, exist_ok=True)
        with av.open(os.path.join(folder, f"{n:04d}.mkv"), "w") as container:
            stream = container.add_stream("ffv1", rate=FPS)
            stream.width, stream.height, stream.pix_fmt = video.shape[2], video.shape[1], "bgr0"
            for frame in video:                                   # uint8 (H, W, 3)
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            container.mux(stream.encode())
        if has_audio and len(audio_queries.get(int(digit), [])) < per_class_audio_queries:
            wav_folder = os.path.join(root, "audio", str(int(digit)))
            os.makedirs(wav_folder, exist_ok=True)
            path = os.path.join(wav_folder, f"{n:04d}.wav")
            with wave.open(path, "wb") as f:
                f.setnchannels(1)
                f.setsampwidth(2)
                f.setframerate(SAMPLE_RATE)
                f.writeframes(np.asarray(np.clip(audio, -1.0, 1.0) * 32767.0, np.int16).tobytes())
            audio_queries.setdefault(int(digit), []).append(path)
    return len(data["label"]), audio_queries


def mmv_targets(export, work_dir, space):
    """Text and audio -> video P@10 over the AV-digits test videos. The index is built by the
    command; queries run in this process through one loaded `Index` (the command's query path is
    the same `Index.search`, tested in tests/test_search_server.py), in `space` and, for audio,
    also in S_va, where FAC's audio and video meet directly."""
    import pathlib

    from sslzoo.data.av_digits import CLASS_NAMES, DIRECTIONS, HELD_OUT_TEMPLATES
    from sslzoo.search import Index

    index_dir = os.path.join(work_dir, "mmv_index")
    count, audio_queries = write_av_test_clips(work_dir)
    start = time.perf_counter()
    print(run_index("build", f"--encoder={export}", f"--media={os.path.join(work_dir, 'videos')}",
                    f"--index={index_dir}", f"--space={space}").strip().splitlines()[-1])
    build_s = time.perf_counter() - start
    index = Index.load(index_dir)
    text = []
    for template in HELD_OUT_TEMPLATES:
        for digit, name in enumerate(CLASS_NAMES):
            for direction in DIRECTIONS:
                hits = index.search(template.format(digit=name, direction=direction), k=10, space=space)
                text.append(precision([h["label"] for h in hits], lambda label, c=f"{digit}_{direction}": label == c))
    audio = {}
    for audio_space in dict.fromkeys((space, "va")):
        scores = []
        for digit, paths in audio_queries.items():
            for path in paths:
                hits = index.search(pathlib.Path(path), k=10, space=audio_space)
                scores.append(precision([h["label"] for h in hits], lambda label, d=digit: label.split("_")[0] == str(d)))
        audio[audio_space] = float(np.mean(scores))
    entry = {"target": "mmv_avdigits P@10", "indexed_videos": count, "build_s": round(build_s, 1), "space": space,
             "text_to_video_p10": float(np.mean(text)), "text_queries": len(text),
             "audio_to_video_p10": audio, "audio_queries": sum(len(p) for p in audio_queries.values())}
    print(json.dumps(entry), flush=True)
    return {"mmv_text_to_video_p10": entry["text_to_video_p10"],
            **{f"mmv_audio_to_video_p10_{name}": value for name, value in audio.items()}}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip_export", help="CLIP export folder (sslzoo-train --preset=clip_digits)")
    parser.add_argument("--mmv_export", help="MMV export folder (sslzoo-train --preset=mmv_avdigits)")
    parser.add_argument("--mmv_space", default="vat", help="joint space the MMV index searches")
    parser.add_argument("--work_dir", default="/tmp/sslzoo_search_targets")
    parser.add_argument("--no_web", action="store_true", help="skip the web-page measurement")
    args = parser.parse_args()
    os.makedirs(args.work_dir, exist_ok=True)
    summary = {}
    if args.clip_export:
        summary.update(clip_targets(args.clip_export, args.work_dir, web=not args.no_web))
    if args.mmv_export:
        summary.update(mmv_targets(args.mmv_export, args.work_dir, args.mmv_space))
    print(json.dumps({"summary": summary}), flush=True)


if __name__ == "__main__":
    main()
