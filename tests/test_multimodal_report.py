"""sslzoo.evaluation.multimodal_report on a tiny FAC model: every metric the MMV issue names,
per available input subset; clips without audio never reach an audio metric; the audio mAP
follows multi-hot labels when given."""
import numpy as np
import pytest

from sslzoo.evaluation import multimodal
from test_mmv import VOCABULARY, tiny_mmv

CLASSES, L = 4, 6


def clips(rng, n, without_audio):
    labels = np.arange(n) % CLASSES
    audio_mask = np.ones(n, np.float32)
    audio_mask[without_audio] = 0
    audio = rng.normal(size=(n, 800)).astype(np.float32)
    audio[without_audio] = np.nan  # a masked clip's waveform must never be embedded
    text = rng.integers(1, len(VOCABULARY), (n, L)).astype(np.int32)
    return {"video": rng.random((n, 4, 8, 8, 3)).astype(np.float32), "audio": audio, "audio_mask": audio_mask,
            "label": labels, "text_ids": text, "text_mask": np.ones(n, np.float32)}


@pytest.fixture(scope="module")
def report_inputs():
    rng = np.random.default_rng(0)
    model = tiny_mmv()
    train, test = clips(rng, 40, [3, 17]), clips(rng, 16, [5])
    queries = {"ids": test["text_ids"][:12], "clip": np.arange(12)}
    prompts = [[f"the digit {word}"] for word in ("one", "two", "one moves", "two moves")]
    return model, train, test, queries, prompts


def test_report_holds_every_metric_and_subset(report_inputs):
    report = multimodal.multimodal_report(*report_inputs)
    for direction in ("text_to_video", "video_to_text", "audio_to_video", "video_to_audio"):
        entry = report["retrieval"][direction]
        assert 0 <= entry["r1"] <= entry["r5"] <= entry["r10"] <= 1 and entry["median_rank"] >= 1, direction
        assert set(entry["instance"]) == {"r1", "r5", "r10", "median_rank"}
    for key in ("video_linear_probe_top1", "audio_linear_probe_top1", "audio_linear_probe_map",
                "zero_shot_video_top1", "text_linear_probe_top1"):
        assert 0 <= report[key] <= 1 and np.isfinite(report[key]), key
    missing = report["missing_modality"]
    assert set(missing) == set(multimodal.MODALITY_SUBSETS)
    assert missing["no_audio"]["retrieval"]["text_to_video"] == report["retrieval"]["text_to_video"]
    assert missing["audio_only"]["audio_linear_probe_map"] == report["audio_linear_probe_map"]
    assert "audio_to_video" not in missing["no_audio"]["retrieval"]
    assert "text_to_video" not in missing["no_text"]["retrieval"]


def test_audio_map_reads_multi_hot_labels(report_inputs):
    model, train, test, queries, prompts = report_inputs
    # Every clip also carries a fifth class that is always present: its AP is exactly 1 whatever
    # the scores, so reading `labels` lifts the mean of the other four towards 1 (by (1 - mAP_4) / 5,
    # far beyond the refit's noise on the four, an untrained model's mAP_4 being near chance).
    one_hot = multimodal.multimodal_report(model, train, test, queries, prompts)["audio_linear_probe_map"]
    always = {name: {**split, "labels": np.c_[np.eye(CLASSES)[split["label"]], np.ones(len(split["label"]))]}
              for name, split in (("train", train), ("test", test))}
    got = multimodal.multimodal_report(model, always["train"], always["test"], queries,
                                       prompts)["audio_linear_probe_map"]
    assert one_hot < 0.9 and one_hot < got <= 1.0, (one_hot, got)
