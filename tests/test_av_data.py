"""sslzoo.data.av: DMVR write/read round trip, windows in time, masks, augmentation."""
import os

import numpy as np
import pytest
import tensorflow as tf

from sslzoo.data.av import example_to_clip, read_clips, write_clips

FPS = 10
RATE = 8000
CLIP_START = 10.0  # seconds into the source video: every time below is absolute


def gray_frames(num_frames, size=32):
    """Frame t is a constant grey level 20 + 25 t (JPEG keeps it almost exactly)."""
    levels = 20 + 25 * np.arange(num_frames)
    return np.broadcast_to(levels[:, None, None, None], (num_frames, size, size, 3)).astype(np.uint8)


def ramp_audio(num_frames):
    """Sample i holds i / 1e5, so a window's first value tells its offset."""
    return (np.arange(num_frames * RATE // FPS) / 1e5).astype(np.float32)


CAPTIONS = ["zero", "one", "two", "three"]
CAP_START = [CLIP_START + s for s in (0.0, 0.25, 0.5, 0.65)]
CAP_END = [CLIP_START + e for e in (0.1, 0.35, 0.55, 0.8)]


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    rng = np.random.default_rng(0)
    textured = np.clip(rng.normal(128, 20, (8, 32, 32, 3)).round(), 0, 255).astype(np.uint8)
    clips = [
        dict(frames=gray_frames(8), audio=ramp_audio(8), captions=CAPTIONS, caption_start=CAP_START,
             caption_end=CAP_END, label=[3, 5], label_text=["c", "f"], filename="a.mp4",
             start=CLIP_START, end=CLIP_START + 0.8, context={"clip/direction/index": [2]}),
        dict(frames=gray_frames(3), filename="short_silent.mp4", start=0.0, end=0.3),
        dict(frames=textured, audio=ramp_audio(8), captions=["only"], filename="textured.mp4", label=1),
    ]
    prefix = str(tmp_path_factory.mktemp("av") / "clips")
    paths = write_clips(prefix, clips, num_shards=2)
    return prefix, paths, clips


def read_all(pattern, **kwargs):
    args = dict(num_frames=4, image_size=32, fps=FPS, audio_sample_rate=RATE, num_captions=3)
    args.update(kwargs)
    return [{k: v.numpy() for k, v in e.items()} for e in read_clips(pattern, **args)]


def test_shards_named_and_round_robin(shards):
    prefix, paths, clips = shards
    assert [os.path.basename(p) for p in paths] == ["clips-00000-of-00002", "clips-00001-of-00002"]
    counts = [sum(1 for _ in tf.data.TFRecordDataset(p)) for p in paths]
    assert counts == [2, 1]
    assert not [f for f in os.listdir(os.path.dirname(prefix)) if ".tmp-" in f]
    first = example_to_clip(next(iter(tf.data.TFRecordDataset(paths[0]))).numpy())
    assert first["label"] == [3, 5] and first["label_text"] == ["c", "f"] and first["filename"] == "a.mp4"
    assert first["caption_start"] == pytest.approx(CAP_START) and first["start"] == pytest.approx(CLIP_START)
    np.testing.assert_array_equal(first["audio"], clips[0]["audio"])


def test_evaluation_window_is_the_middle_and_synchronised(shards):
    prefix, paths, clips = shards
    clip = read_all(paths[0], training=False, extra_labels={"direction": "clip/direction/index"}, num_classes=7)[0]
    assert clip["video"].shape == (4, 32, 32, 3) and clip["video"].dtype == np.float32
    # 8 stored frames, window of 4: the middle one starts at frame 2 (0.2 s).
    expected = clips[0]["frames"][2:6].astype(np.float32) / 255.0
    assert np.abs(clip["video"] - expected).max() < 3 / 255
    start = int(0.2 * RATE)
    np.testing.assert_array_equal(clip["audio"], clips[0]["audio"][start:start + int(0.4 * RATE)])
    assert clip["audio_mask"] == 1.0
    # Window [10.2, 10.6] s: "one" and "two" overlap it (centres 0.1 and 0.125 s away),
    # "three" is 0.05 s after it, "zero" 0.1 s before it.
    assert clip["text"].tolist() == [b"one", b"two", b"three"]
    np.testing.assert_array_equal(clip["text_mask"], [1, 1, 1])
    assert clip["label"] == 3 and clip["direction"] == 2
    np.testing.assert_array_equal(clip["labels"], [0, 0, 0, 1, 0, 1, 0])


def test_more_candidates_than_narrations_are_masked(shards):
    clip = read_all(shards[1][0], training=False, num_captions=6)[0]
    assert clip["text"].tolist() == [b"one", b"two", b"three", b"zero", b"", b""]
    np.testing.assert_array_equal(clip["text_mask"], [1, 1, 1, 1, 0, 0])


def test_missing_audio_and_text_are_zeros_with_zero_masks_and_short_clips_repeat(shards):
    silent = read_all(shards[1][1], training=False, num_classes=7)[0]
    np.testing.assert_array_equal(silent["labels"], np.zeros(7))
    np.testing.assert_array_equal(silent["audio"], np.zeros(int(0.4 * RATE), np.float32))
    assert silent["audio_mask"] == 0.0 and silent["label"] == -1
    np.testing.assert_array_equal(silent["text_mask"], [0, 0, 0])
    assert silent["text"].tolist() == [b"", b"", b""]
    # Three stored frames, four wanted: 0, 1, 2, 0 (padded by repetition).
    levels = (20 + 25 * np.array([0, 1, 2, 0])) / 255.0
    np.testing.assert_allclose(silent["video"].mean(axis=(1, 2, 3)), levels, atol=2 / 255)


def test_training_windows_are_random_and_audio_follows_the_frames(shards):
    starts = set()
    for seed in range(6):
        clip = [c for c in read_all(shards[1][0], training=True, seed=seed, flip=False, color_jitter=0.0)
                if c["label"] == 3][0]
        levels = np.round((clip["video"].mean(axis=(1, 2, 3)) * 255 - 20) / 25).astype(int)
        first = levels[0]
        np.testing.assert_array_equal(levels, first + np.arange(4))
        assert 0 <= first <= 4
        # Sample i holds i / 1e5: the audio starts at the same second as the frames.
        assert round(clip["audio"][0] * 1e5) == first * RATE // FPS
        starts.add(first)
    assert len(starts) > 1


def test_training_is_deterministic_under_a_seed(shards):
    pattern = shards[0] + "-*"
    first = read_all(pattern, training=True, seed=7)
    again = read_all(pattern, training=True, seed=7)
    other = read_all(pattern, training=True, seed=8)
    for a, b in zip(first, again):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    assert any(not np.array_equal(a["video"], b["video"]) for a, b in zip(first, other))
    for clip in first:
        assert clip["video"].min() >= 0.0 and clip["video"].max() <= 1.0


def test_training_crop_and_flip_change_textured_frames(shards):
    def textured(**kwargs):
        return [c for c in read_all(shards[1][0], **kwargs) if c["label"] == 1][0]["video"]

    centre = textured(training=False)
    crops = [textured(training=True, seed=s, color_jitter=0.0, crop=crop)
             for s in range(2) for crop in ("random_resized", "scale_jitter")]
    assert all(not np.allclose(c, centre, atol=0.05) for c in crops)
    # A full-area square crop without flip or jitter is the evaluation view (window: all 8 frames).
    same = textured(training=True, seed=0, color_jitter=0.0, flip=False, crop="scale_jitter",
                    crop_area_range=(1.0, 1.0), num_frames=8)
    np.testing.assert_allclose(same, textured(training=False, num_frames=8), atol=1e-6)


def test_bad_arguments_name_themselves(shards, tmp_path):
    with pytest.raises(ValueError, match="num_frames"):
        read_clips(shards[0] + "-*", num_frames=0, image_size=8)
    with pytest.raises(ValueError, match="crop"):
        read_clips(shards[0] + "-*", num_frames=2, image_size=8, crop="centre")
    with pytest.raises(ValueError, match="file_pattern"):
        read_clips(str(tmp_path / "nothing-*"), num_frames=2, image_size=8)
    with pytest.raises(ValueError, match="num_shards"):
        write_clips(str(tmp_path / "x"), [], num_shards=0)
    with pytest.raises(ValueError, match="frames"):
        write_clips(str(tmp_path / "x"), [dict(frames=np.zeros((2, 4, 4), np.uint8))])
