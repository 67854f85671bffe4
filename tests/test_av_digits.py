"""AV-digits: content checked with independent numpy (motion, DTMF pitch, loudness, text)."""
import io
import re

import numpy as np
import pytest

from sslzoo.data import av_digits as av_digits_fn
from sslzoo.data.av_digits import (CLASS_NAMES, DIRECTIONS, HELD_OUT_TEMPLATES, READ_ARGS, SAMPLE_RATE,
                                   TRAIN_TEMPLATES, av_digits, write_av_digits)

KEYPAD = {1: (697, 1209), 2: (697, 1336), 3: (697, 1477), 4: (770, 1209), 5: (770, 1336), 6: (770, 1477),
          7: (852, 1209), 8: (852, 1336), 9: (852, 1477), 0: (941, 1336)}


def jpeg_round_trip(frame, quality=90):
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())), np.float32)


@pytest.fixture(scope="module")
def clips():
    return av_digits("validation", num_clips=200, seed=3)


def digit_centroids(video):
    """(T, 2) (y, x) centroid of each frame's stroke pixels (brightest channel > 0.5)."""
    weights = np.maximum(video.max(-1).astype(np.float32) / 255.0 - 0.5, 0.0)  # (T, H, W)
    grid_y, grid_x = np.mgrid[:video.shape[1], :video.shape[2]]
    total = weights.sum((1, 2)) + 1e-9
    return np.stack([(weights * grid_y).sum((1, 2)) / total, (weights * grid_x).sum((1, 2)) / total], -1)


def test_shapes_and_exported_name(clips):
    assert av_digits_fn is av_digits
    assert clips["video"].shape == (200, 16, 32, 32, 3) and clips["video"].dtype == np.uint8
    assert clips["audio"].shape == (200, int(1.6 * SAMPLE_RATE)) and clips["audio"].dtype == np.float32
    assert clips["text"].shape == (200, 2) and clips["text_mask"].shape == (200, 2)
    assert set(clips["label"]) == set(range(10)) and set(clips["direction"]) == set(range(4))


def test_deterministic_and_chunks_equal_the_whole(clips):
    part = av_digits("validation", num_clips=200, seed=3, start=50, stop=60)
    for key, value in part.items():
        np.testing.assert_array_equal(value, clips[key][50:60], err_msg=key)
    other = av_digits("validation", num_clips=10, seed=4)
    assert not np.array_equal(other["video"], clips["video"][:10])


def test_splits_use_disjoint_source_digits():
    from sslzoo.data.av_digits import _source_indices

    pools = {s: set(_source_indices(s).tolist()) for s in ("train", "validation", "test")}
    assert len(pools["train"]) == 3500 and len(pools["validation"]) == 500 and len(pools["test"]) == 1000
    assert not pools["train"] & pools["validation"] and not pools["train"] & pools["test"]
    assert not pools["validation"] & pools["test"]
    for split in ("validation", "test"):
        assert set(av_digits(split, num_clips=300, seed=0, stop=100)["source_index"]) <= pools[split]


def test_digit_moves_in_its_direction(clips):
    step = {0: (0, -1), 1: (0, 1), 2: (-1, 0), 3: (1, 0)}
    correct = 0
    for video, direction in zip(clips["video"], clips["direction"]):
        centroids = digit_centroids(video)
        shift = centroids[-1] - centroids[0]
        correct += float(np.dot(shift, step[int(direction)])) > 5.0
    assert correct / len(clips["video"]) > 0.9


def test_audio_is_the_digits_keypad_chord_and_silent_clips_are_zero(clips):
    spectrum_freqs = np.fft.rfftfreq(clips["audio"].shape[1], 1 / SAMPLE_RATE)
    checked = 0
    for audio, mask, label in zip(clips["audio"], clips["audio_mask"], clips["label"]):
        if mask == 0:
            assert not audio.any()
            continue
        spectrum = np.abs(np.fft.rfft(audio))
        low = spectrum_freqs[np.argmax(np.where(spectrum_freqs < 1100, spectrum, 0))]
        high = spectrum_freqs[np.argmax(np.where(spectrum_freqs > 1100, spectrum, 0))]
        want_low, want_high = KEYPAD[int(label)]
        assert abs(low / want_low - 1) < 0.035 and abs(high / want_high - 1) < 0.035
        checked += 1
    assert 150 < checked < 200  # 10 % silent by default


def test_loudness_follows_the_motion(clips):
    correlations = []
    for video, audio, mask in zip(clips["video"], clips["audio"], clips["audio_mask"]):
        if mask == 0:
            continue
        # From frame 4 on, after the chord's onset (at most 0.3 s).
        speed = np.linalg.norm(np.diff(digit_centroids(video), axis=0), axis=1)[3:]  # motion into frames 4..15
        rms = np.sqrt((audio.reshape(16, -1) ** 2).mean(1))[4:]
        if speed.std() > 0 and rms.std() > 0:
            correlations.append(np.corrcoef(speed, rms)[0, 1])
    assert np.mean(correlations) > 0.3


def test_narrations_name_digit_and_direction_and_use_training_templates(clips):
    patterns = [re.compile(re.escape(t).replace(r"\{digit\}", "(?P<digit>\\w+)")
                           .replace(r"\{direction\}", "(?P<direction>\\w+)") + "$") for t in TRAIN_TEMPLATES]
    held_out = [t.split("{digit}")[0] for t in HELD_OUT_TEMPLATES]
    aligned = misaligned = 0
    for n in range(len(clips["label"])):
        if clips["text_mask"][n, 0] == 0:
            assert list(clips["text"][n]) == ["", ""]
            continue
        for k, text in enumerate(clips["text"][n]):
            match = next(m for m in (p.match(text) for p in patterns) if m)
            assert not any(text.startswith(h) for h in held_out if h)
            digit = match["digit"] if match["digit"].isdigit() else str(CLASS_NAMES.index(match["digit"]))
            names = (int(digit), DIRECTIONS.index(match["direction"]))
            if clips["aligned"][n, k]:
                assert names == (clips["label"][n], clips["direction"][n])
                aligned += 1
            else:
                misaligned += 1
    assert 0.1 < misaligned / (aligned + misaligned) < 0.3
    assert 0.03 < 1 - clips["text_mask"][:, 0].mean() < 0.2


def test_in_memory_dataset_matches_the_arrays(clips):
    from sslzoo.data.av_digits import av_digits_dataset

    elements = list(av_digits_dataset("validation", training=False, data=clips).take(3).as_numpy_iterator())
    for n, element in enumerate(elements):
        np.testing.assert_allclose(element["video"], clips["video"][n] / 255.0, atol=1e-6)
        np.testing.assert_array_equal(element["audio"], clips["audio"][n])
        assert [t.decode() for t in element["text"]] == list(clips["text"][n])
        assert element["label"] == clips["label"][n] and element["direction"] == clips["direction"][n]


def test_bad_arguments():
    with pytest.raises(ValueError, match="split"):
        av_digits("dev")
    with pytest.raises(ValueError, match="silent_fraction"):
        av_digits("test", silent_fraction=1.5)


def test_shards_read_back_with_read_clips(tmp_path):
    from sslzoo.data.av import read_clips

    data = av_digits("test", num_clips=12, seed=1)
    paths = write_av_digits(str(tmp_path), splits=("test",), seed=1, num_shards=2, num_clips={"test": 12}, chunk=5)
    assert [p.rsplit("/", 1)[1] for p in paths["test"]] == ["test-00000-of-00002", "test-00001-of-00002"]
    read = [{k: v.numpy() for k, v in e.items()}
            for path in paths["test"] for e in read_clips(path, training=False, **READ_ARGS)]
    order = [n for shard in range(2) for n in range(12) if n % 2 == shard]  # clip n in shard n % 2
    for n, clip in zip(order, read):
        assert clip["label"] == data["label"][n] and clip["direction"] == data["direction"][n]
        np.testing.assert_array_equal(clip["audio"], data["audio"][n])
        assert clip["audio_mask"] == data["audio_mask"][n]
        np.testing.assert_array_equal(clip["text_mask"], data["text_mask"][n])
        if data["text_mask"][n, 0]:
            assert [t.decode() for t in clip["text"]] == list(data["text"][n])
        # Within JPEG error: the frames as Pillow's own quality-90 JPEG round trip gives them.
        expected = np.stack([jpeg_round_trip(frame) for frame in data["video"][n]]) / 255.0
        assert np.abs(clip["video"] - expected).max() < 8 / 255
        assert np.abs(clip["video"] - expected).mean() < 2 / 255  # decoders differ by ~1 level
