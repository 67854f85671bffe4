"""The per-video conversion and the sharded, parallel, resumable run of `sslzoo-prepare`.

Clips are grouped by subset and by video (a video's clips stay together); video k
of a subset (ids sorted) goes to shard k % num_shards, so the assignment is the
same on every run. Each shard is one task: written to a temporary file, its
report saved to `OUTPUT/.prepare/<shard>.json`, then renamed into place. A rerun
keeps every shard that has both, so an interrupted run resumes where it stopped.
"""
import collections
import concurrent.futures
import functools
import json
import multiprocessing
import os
import time

from sslzoo.data.av import keys
from sslzoo.data.av.example import encode_jpeg
from sslzoo.data.prepare.errors import MediaError
from sslzoo.data.prepare.media import decode_span, find_media, probe_duration

REPORT_DIR = ".prepare"


def clip_from_media(spec, path, fps=10, short_side=256, sample_rate=48000, jpeg_quality=90):
    """Decodes one ClipSpec's span -> (clip dict for `write_clips`, frames as JPEG bytes; media seconds)."""
    start, end = spec.start, spec.end
    if spec.maybe_cut and start > 0:
        duration = probe_duration(path)
        if duration is not None and duration <= start:
            start, end = 0.0, (None if end is None else end - spec.start)
    frames, audio, seconds = decode_span(path, start, end, fps, short_side, sample_rate,
                                         frame_transform=functools.partial(encode_jpeg, quality=jpeg_quality))
    if frames is None:
        raise MediaError("no video stream (audio-only media cannot be written as DMVR frames)")
    clip = {
        "frames": frames,
        "audio": audio,
        "captions": [text for _, _, text in spec.captions],
        "caption_start": [s for s, _, _ in spec.captions],
        "caption_end": [e for _, e, _ in spec.captions],
        "label": list(spec.labels),
        "label_text": list(spec.label_texts),
        "filename": spec.video_id,
        "start": spec.start,
        "end": spec.start + seconds,
    }
    return clip, seconds


def plan_shards(specs, output_dir, num_shards):
    """ClipSpecs -> [(shard path, [[specs of one video], ...])], deterministic."""
    by_subset = collections.defaultdict(lambda: collections.defaultdict(list))
    for spec in specs:
        by_subset[spec.subset][spec.video_id].append(spec)
    tasks = []
    for subset in sorted(by_subset):
        videos = [by_subset[subset][v] for v in sorted(by_subset[subset])]
        shards = max(1, min(num_shards, len(videos)))
        for s in range(shards):
            tasks.append((keys.shard_name(os.path.join(output_dir, subset), s, shards), videos[s::shards]))
    return tasks


def _report_path(shard_path):
    directory, name = os.path.split(shard_path)
    return os.path.join(directory, REPORT_DIR, name + ".json")


def convert_shard(shard_path, videos, options):
    """Converts one shard's videos; returns its report dict. Raises MediaError when strict."""
    from sslzoo.data.av.writer import ShardWriter

    report = {"shard": os.path.basename(shard_path), "clips": 0, "videos": len(videos), "media_seconds": 0.0,
              "failed": []}
    writer = ShardWriter(shard_path)
    try:
        for clips in videos:
            try:
                path = clips[0].media_path or find_media(options["media_dir"], clips[0].video_id,
                                                         options.get("path_template"))
            except MediaError as e:
                path, missing = None, e
            for spec in clips:
                try:
                    if path is None:
                        raise missing
                    clip, seconds = clip_from_media(spec, path, options["fps"], options["short_side"],
                                                    options["sample_rate"], options.get("jpeg_quality", 90))
                except MediaError as e:
                    failure = {"video_id": spec.video_id, "path": path, "start": spec.start, "end": spec.end,
                               "reason": str(e)}
                    if options.get("strict"):
                        raise MediaError(f"{spec.video_id}: {e}") from e
                    report["failed"].append(failure)
                    continue
                writer.write(clip)
                report["clips"] += 1
                report["media_seconds"] += seconds
    except BaseException:
        writer.abort()
        raise
    os.makedirs(os.path.dirname(_report_path(shard_path)), exist_ok=True)
    temp = _report_path(shard_path) + f".tmp-{os.getpid()}"
    with open(temp, "w") as f:
        json.dump(report, f)
    os.replace(temp, _report_path(shard_path))
    writer.close()
    return report


def _done(shard_path):
    if os.path.exists(shard_path) and os.path.exists(_report_path(shard_path)):
        with open(_report_path(shard_path)) as f:
            return json.load(f)
    return None


def _check_no_stale_shards(tasks, output_dir):
    """Refuses to mix shards of an earlier run with another shard count (readers would glob both)."""
    import glob

    planned = {os.path.basename(path) for path, _ in tasks}
    subsets = {name.rsplit("-", 3)[0] for name in planned}
    for subset in subsets:
        for path in glob.glob(os.path.join(glob.escape(output_dir), keys.shard_pattern(subset))):
            if os.path.basename(path) not in planned:
                raise ValueError(f"{output_dir} holds {os.path.basename(path)} from a run with another shard count; "
                                 "rerun with the same `num_shards` (--shards) or use a new output folder")


def _pool(workers):
    context = multiprocessing.get_context("forkserver")
    # The fork server imports TensorFlow and this module once; each worker forks from it.
    context.set_forkserver_preload(["sslzoo.data.prepare.convert", "av", "PIL.Image"])
    return concurrent.futures.ProcessPoolExecutor(workers, mp_context=context)


def prepare(specs, output_dir, media_dir=".", num_shards=1, fps=10, short_side=256, sample_rate=48000,
            workers=1, strict=False, path_template=None, progress=True, name="prepare"):
    """Converts ClipSpecs into DMVR shards `output_dir/<subset>-0000i-of-0000N`.

    Args:
      specs: ClipSpecs from a parser in `sslzoo.data.prepare`.
      num_shards: shards per subset (at most one per video).
      workers: processes (1 = in this process).
      strict: stop at the first bad media file (raises MediaError) instead of
        skipping it and naming it in the report.
    Returns:
      The report, also written to `output_dir/prepare_report.json`: clips written,
      videos, media seconds, seconds taken, resumed shards, and every failure
      (video id, path, span, reason).
    """
    if fps <= 0 or short_side < 2 or sample_rate <= 0 or workers < 1 or num_shards < 1:
        raise ValueError("`fps`, `sample_rate` must be > 0, `short_side` >= 2, `workers` and `num_shards` >= 1; got "
                         f"{fps}, {sample_rate}, {short_side}, {workers}, {num_shards}")
    os.makedirs(output_dir, exist_ok=True)
    options = dict(media_dir=media_dir, fps=fps, short_side=short_side, sample_rate=sample_rate, strict=strict,
                   path_template=path_template)
    began = time.time()
    tasks = plan_shards(specs, output_dir, num_shards)
    _check_no_stale_shards(tasks, output_dir)
    reports, todo = [], []
    for shard_path, videos in tasks:
        done = _done(shard_path)
        (reports.append(dict(done, resumed=True)) if done else todo.append((shard_path, videos)))
    from tqdm import tqdm

    bar = tqdm(total=sum(len(v) for _, v in tasks), initial=sum(r["videos"] for r in reports), unit="video",
               desc=name, disable=not progress)
    try:
        if workers == 1 or len(todo) <= 1:
            for shard_path, videos in todo:
                reports.append(convert_shard(shard_path, videos, options))
                bar.update(len(videos))
        else:
            with _pool(min(workers, len(todo))) as pool:
                futures = {pool.submit(convert_shard, p, v, options): len(v) for p, v in todo}
                try:
                    for future in concurrent.futures.as_completed(futures):
                        reports.append(future.result())
                        bar.update(futures[future])
                except BaseException:
                    for future in futures:
                        future.cancel()
                    raise
    finally:
        bar.close()
    report = {
        "name": name,
        "clips": sum(r["clips"] for r in reports),
        "videos": sum(r["videos"] for r in reports),
        "media_seconds": round(sum(r["media_seconds"] for r in reports), 3),
        "seconds": round(time.time() - began, 3),
        "shards": sorted(r["shard"] for r in reports),
        "resumed_shards": sorted(r["shard"] for r in reports if r.get("resumed")),
        "failed_count": sum(len(r["failed"]) for r in reports),
        "failed": [f for r in sorted(reports, key=lambda r: r["shard"]) for f in r["failed"]],
    }
    with open(os.path.join(output_dir, "prepare_report.json"), "w") as f:
        json.dump(report, f, indent=2)
    return report
