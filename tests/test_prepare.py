"""sslzoo-prepare: each annotation format on tiny media made with PyAV (one corrupt, one missing)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from sslzoo.data.av import example_to_clip
from sslzoo.data.prepare import PARSERS, AnnotationError, MediaError, prepare
from sslzoo.data.prepare.sample_media import grey_level, write_sample_media

FPS, RATE, SHORT = 10, 8000, 16
OPTIONS = dict(fps=FPS, short_side=SHORT, sample_rate=RATE, progress=False)


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """vid_a.mkv (0.8 s, 20 fps, audio), vid_b.mp4 (video only), vid_c.mp4 (garbage), vid_t.mkv (truncated)."""
    folder = tmp_path_factory.mktemp("media")
    write_sample_media(str(folder / "vid_a.mkv"))
    write_sample_media(str(folder / "vid_b.mp4"), audio=False)
    (folder / "vid_c.mp4").write_bytes(b"\x00not a video" * 200)
    whole = write_sample_media(str(folder / "whole.mkv"))
    data = open(whole, "rb").read()
    (folder / "vid_t.mkv").write_bytes(data[:len(data) // 2])
    os.remove(whole)
    write_sample_media(str(folder / "--PJHxphWEs.mkv"))  # an AudioSet YTID, already cut to its segment
    return str(folder)


def records(output, subset):
    """Every clip written for `subset`, decoded with the protobuf API (not read_clips)."""
    files = sorted(tf.io.gfile.glob(os.path.join(output, f"{subset}-*-of-*")))
    return [example_to_clip(r.numpy()) for f in files for r in tf.data.TFRecordDataset(f)]


def source_frames(clip):
    """Which source frame each stored JPEG is: the one whose grey level is nearest (levels 12 apart)."""
    means = [float(tf.io.decode_jpeg(j).numpy().mean()) for j in clip["frames"]]
    return [int(np.argmin([abs(m - grey_level(k)) for k in range(16)])) for m in means]


def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return str(path)


def test_howto100m_whole_videos_with_timed_narrations_and_bad_media_reported(media, tmp_path):
    captions = write(tmp_path / "caption.json", json.dumps({
        "vid_a": {"start": [0.0, 0.4], "end": [0.3, 0.8], "text": ["open the box", "take it out"]},
        "vid_b": {"start": [0.1], "end": [0.5], "text": ["no sound here"]},
        "vid_c": {"start": [0], "end": [1], "text": ["corrupt"]},
        "vid_t": {"start": [0], "end": [1], "text": ["truncated"]},
        "vid_missing": {"start": [0], "end": [1], "text": ["missing"]},
    }))
    tasks = write(tmp_path / "HowTo100M_v1.csv", "video_id,category_1,category_2,rank,task_id\n"
                  "vid_a,Food and Entertaining,Drinks,27,11967\nvid_b,Hobbies and Crafts,Crafts,5,77721\n")
    output = str(tmp_path / "out")
    report = prepare(PARSERS["howto100m"]([captions, tasks]), output, media_dir=media, num_shards=2, **OPTIONS)
    assert report["clips"] == 2 and report["videos"] == 5 and report["failed_count"] == 3
    reasons = {f["video_id"]: f["reason"] for f in report["failed"]}
    assert reasons["vid_missing"].startswith("media not found") and reasons["vid_c"].startswith("cannot open")
    assert reasons["vid_t"].startswith("truncated")
    assert json.load(open(os.path.join(output, "prepare_report.json")))["failed_count"] == 3
    assert report["media_seconds"] == pytest.approx(1.6)
    clips = {c["filename"]: c for c in records(output, "train")}
    a, b = clips["vid_a"], clips["vid_b"]
    assert a["captions"] == ["open the box", "take it out"] and a["caption_end"] == pytest.approx([0.3, 0.8])
    assert a["label"] == [11967] and a["label_text"] == ["Drinks"] and b["label"] == [77721]
    # 0.8 s at 20 fps decoded at 10 fps: source frames 0, 2, ..., 14; short side 16.
    assert source_frames(a) == list(range(0, 16, 2))
    assert tf.io.decode_jpeg(a["frames"][0]).shape == (16, 20, 3)
    np.testing.assert_allclose(a["audio"], np.arange(int(0.8 * RATE)) / 1e5, atol=1e-6)
    assert len(b["audio"]) == 0 and a["end"] == pytest.approx(0.8)


def test_youcook2_one_clip_per_segment_synchronised_and_subsets_kept(media, tmp_path):
    annotations = write(tmp_path / "youcookii_annotations_trainval.json", json.dumps({"database": {
        "vid_a": {"annotations": [{"id": 0, "segment": [0.2, 0.5], "sentence": "cut the onion"},
                                  {"id": 1, "segment": [0.4, 0.8], "sentence": "fry it"}],
                  "duration": 0.8, "recipe_type": "113", "subset": "training",
                  "video_url": "https://www.youtube.com/watch?v=vid_a"},
        "vid_b": {"annotations": [{"id": 0, "segment": [0.0, 0.3], "sentence": "stir"}],
                  "duration": 0.8, "recipe_type": "201", "subset": "validation",
                  "video_url": "https://www.youtube.com/watch?v=vid_b"}}}))
    output = str(tmp_path / "out")
    report = prepare(PARSERS["youcook2"]([annotations]), output, media_dir=media, **OPTIONS)
    assert report["clips"] == 3 and report["failed_count"] == 0
    assert sorted(os.listdir(output)) == [".prepare", "prepare_report.json", "training-00000-of-00001",
                                          "validation-00000-of-00001"]
    first, second = sorted(records(output, "training"), key=lambda c: c["start"])
    assert first["captions"] == ["cut the onion"] and first["label"] == [113]
    assert (first["start"], first["end"]) == pytest.approx((0.2, 0.5))
    assert source_frames(first) == [4, 6, 8]
    np.testing.assert_allclose(first["audio"], np.arange(1600, 4000) / 1e5, atol=1e-6)  # 0.2 s .. 0.5 s
    np.testing.assert_allclose(second["audio"][:3], np.arange(3200, 3203) / 1e5, atol=1e-6)
    assert records(output, "validation")[0]["captions"] == ["stir"]


def test_coin_steps_become_timed_narrations(media, tmp_path):
    annotations = write(tmp_path / "COIN.json", json.dumps({"database": {
        "vid_a": {"duration": 0.8, "class": "ReplaceSIMCard", "video_url": "https://www.youtube.com/embed/vid_a",
                  "start": 0.0, "end": 0.8, "subset": "training", "recipe_type": 48,
                  "annotation": [{"id": "1", "segment": [0.1, 0.3], "label": "open the tray"},
                                 {"id": "2", "segment": [0.5, 0.7], "label": "insert the card"}]}}}))
    output = str(tmp_path / "out")
    prepare(PARSERS["coin"]([annotations]), output, media_dir=media, **OPTIONS)
    (clip,) = records(output, "training")
    assert clip["captions"] == ["open the tray", "insert the card"]
    assert clip["caption_start"] == pytest.approx([0.1, 0.5]) and clip["label"] == [48]
    assert clip["label_text"] == ["ReplaceSIMCard"] and len(clip["frames"]) == 8


def test_audioset_multilabel_cut_segments(media, tmp_path):
    segments = write(tmp_path / "balanced_train_segments.csv",
                     "# Segments csv created Sun Mar  5 10:54:31 2017\n"
                     "# num_ytids=2, num_segs=2, num_unique_labels=3, num_positive_labels=3\n"
                     "# YTID, start_seconds, end_seconds, positive_labels\n"
                     '--PJHxphWEs, 30.000, 30.800, "/m/09x0r,/t/dd00088"\n'
                     'vid_missing, 0.000, 10.000, "/m/05zppz"\n')
    classes = write(tmp_path / "class_labels_indices.csv", "index,mid,display_name\n0,/m/09x0r,\"Speech\"\n"
                    "1,/m/05zppz,\"Male speech, man speaking\"\n2,/t/dd00088,\"Gush\"\n")
    output = str(tmp_path / "out")
    report = prepare(PARSERS["audioset"]([segments, classes]), output, media_dir=media, **OPTIONS)
    assert report["clips"] == 1 and [f["video_id"] for f in report["failed"]] == ["vid_missing"]
    (clip,) = records(output, "balanced_train")
    assert clip["label"] == [0, 2] and clip["label_text"] == ["Speech", "Gush"] and clip["captions"] == []
    assert clip["start"] == pytest.approx(30.0) and len(clip["frames"]) == 8  # the cut file, from its start
    np.testing.assert_allclose(clip["audio"][:3], [0, 1e-5, 2e-5], atol=1e-7)


def csv_file(tmp_path, media):
    return write(tmp_path / "clips.csv", "video_path,start,end,label,caption\n"
                 f"vid_a.mkv,0.3,0.6,4,a caption\nvid_b.mp4,0,0.5,2,\nvid_c.mp4,0,1,1,broken\n")


def test_csv_format_resume_and_strict(media, tmp_path):
    path = csv_file(tmp_path, media)
    output = str(tmp_path / "out")
    report = prepare(PARSERS["csv"]([path], media), output, media_dir=media, num_shards=3, **OPTIONS)
    assert report["clips"] == 2 and report["failed_count"] == 1 and len(report["shards"]) == 3
    shards = sorted(os.path.join(output, s) for s in report["shards"])
    stamps = [os.path.getmtime(s) for s in shards]
    os.remove(shards[1])
    again = prepare(PARSERS["csv"]([path], media), output, media_dir=media, num_shards=3, **OPTIONS)
    assert again["resumed_shards"] == [os.path.basename(shards[0]), os.path.basename(shards[2])]
    assert again["clips"] == 2 and [os.path.getmtime(s) for s in (shards[0], shards[2])] == [stamps[0], stamps[2]]
    clip = [c for c in records(output, "clips") if c["filename"] == "vid_a.mkv"][0]
    assert clip["label"] == [4] and clip["captions"] == ["a caption"] and len(clip["frames"]) == 3
    with pytest.raises(ValueError, match="shard count"):
        prepare(PARSERS["csv"]([path], media), output, media_dir=media, num_shards=2, **OPTIONS)
    with pytest.raises(MediaError, match="vid_c"):
        prepare(PARSERS["csv"]([path], media), str(tmp_path / "strict"), media_dir=media, strict=True, **OPTIONS)


@pytest.mark.parametrize("name, file_name, content, parts", [
    ("howto100m", "caption.json", {"v1": {"start": [0, 1], "end": [1], "text": ["a", "b"]}},
     ["caption.json", "v1", "start/end/text"]),
    ("youcook2", "youcookii_annotations_trainval.json",
     {"database": {"v2": {"annotations": [{"id": 0, "segment": ["x", 3], "sentence": "s"}], "subset": "training",
                          "recipe_type": "1"}}}, ["v2/annotations[0]", "segment"]),
    ("coin", "COIN.json", {"database": {"v3": {"annotation": [], "subset": "training", "recipe_type": 1}}},
     ["COIN.json", "v3", "class"]),
])
def test_malformed_annotations_name_file_record_and_field(tmp_path, name, file_name, content, parts):
    path = write(tmp_path / file_name, json.dumps(content))
    with pytest.raises(AnnotationError) as error:
        PARSERS[name]([path])
    for part in parts:
        assert part in str(error.value)


def test_malformed_audioset_and_csv(tmp_path):
    classes = write(tmp_path / "class_labels_indices.csv", "index,mid,display_name\n0,/m/a,A\n")
    segments = write(tmp_path / "eval_segments.csv", "# a\n# b\n# c\nYT1, 0.0, 10.0, \"/m/zzz\"\n")
    with pytest.raises(AnnotationError, match=r"eval_segments.csv: record 'YT1 \(data row 1\)', field 'positive_labels'"):
        PARSERS["audioset"]([segments, classes])
    bad = write(tmp_path / "clips.csv", "video_path,start,end\nv.mp4,zero,1\n")
    with pytest.raises(AnnotationError, match=r"clips.csv: record 'line 2', field 'start'"):
        PARSERS["csv"]([bad])


def test_csv_label_names_are_numbered_in_sorted_order(tmp_path):
    named = write(tmp_path / "named.csv", "video_path,start,end,label\na.mp4,0,1,walk\nb.mp4,0,1,run\nc.mp4,0,1,\n")
    specs = PARSERS["csv"]([named])
    assert [(s.labels, s.label_texts) for s in specs] == [([1], ["walk"]), ([0], ["run"]), ([], [])]


def test_command_line_parallel_and_exit_statuses(media, tmp_path):
    path = csv_file(tmp_path, media)
    command = [sys.executable, "-m", "sslzoo.train.prepare", "csv", f"--annotations={path}", f"--media_dir={media}",
               "--fps=10", "--short_side=16", "--sample_rate=8000", "--shards=3", "--workers=2", "--noprogress"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(command + [f"--output={tmp_path / 'cli'}"], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.load(open(tmp_path / "cli" / "prepare_report.json"))
    assert report["clips"] == 2 and report["failed"][0]["video_id"] == "vid_c.mp4"
    strict = subprocess.run(command + [f"--output={tmp_path / 'strict'}", "--strict", "--workers=1"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert strict.returncode == 1 and "vid_c.mp4" in strict.stderr


def test_beam_direct_runner_writes_the_same_shards(media, tmp_path):
    pytest.importorskip("apache_beam")
    from sslzoo.data.prepare.beam_pipeline import run_beam

    path = csv_file(tmp_path, media)
    report = run_beam(PARSERS["csv"]([path], media), str(tmp_path / "beam"), media_dir=media, num_shards=2,
                      fps=FPS, short_side=SHORT, sample_rate=RATE, runner="direct")
    assert report["clips"] == 2 and [f["video_id"] for f in report["failed"]] == ["vid_c.mp4"]
    assert sorted(f for f in os.listdir(tmp_path / "beam") if f.startswith("clips")) == [
        "clips-00000-of-00002", "clips-00001-of-00002"]
    clip = [c for c in records(str(tmp_path / "beam"), "clips") if c["filename"] == "vid_a.mkv"][0]
    assert source_frames(clip) == [6, 8, 10] and clip["captions"] == ["a caption"]
    np.testing.assert_allclose(clip["audio"][:3], np.arange(2400, 2403) / 1e5, atol=1e-6)
