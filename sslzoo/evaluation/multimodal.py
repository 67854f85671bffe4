"""Evaluation of video-audio-text models (MMV): retrieval, linear probes, zero-shot, missing modalities.

The model is anything with `embed(inputs, modality, space)` (unit embeddings in
joint spaces, encoder features for space "features"), `common_space(a, b)` (the
space where modalities a and b meet, or None) and, for text given as strings, a
`tokenizer`; `sslzoo.models.MMV` is one.

    report = multimodal_report(model, train_clips, test_clips, queries, prompts)
    report["retrieval"]["text_to_video"]["r1"], report["video_linear_probe_top1"], ...

Retrieval (YouCook2 / MSR-VTT protocol: every query ranks the whole gallery by
cosine similarity; R@K is the fraction of queries with a hit in the top K,
median rank is 1-based) is class-level: a hit is a gallery item of the query's
class; the instance-level numbers (the query's own clip or narration) sit
beside them under "instance".

Missing modalities ("degeneracy"): `missing_modality` repeats every metric that
the remaining streams can compute, for the subsets without audio, without
text, and each modality alone. Where a clip's audio can reach the video-text
space (FAC, shared), the full model's text queries also rank clips embedded from
video AND audio (`text_to_video_audio`); without audio that falls back to the
video alone, which is what `missing_modality["no_audio"]` measures.
"""
import numpy as np
import tensorflow as tf

from sslzoo.evaluation.features import top_k_accuracy
from sslzoo.evaluation.linear_probe import linear_probe
from sslzoo.evaluation.multilabel import multilabel_linear_probe, one_hot_targets
from sslzoo.evaluation.retrieval import retrieval_ranks

MODALITY_SUBSETS = ("no_audio", "no_text", "no_video", "video_only", "audio_only", "text_only")


def embed_batches(model, inputs, modality, space, batch_size=128):
    """`model.embed` over `inputs` (N, ...) in batches -> float32 numpy (N, D)."""
    inputs = np.asarray(inputs)
    if len(inputs) == 0:
        raise ValueError(f"`inputs` for modality {modality!r} must hold at least one item, got shape {inputs.shape}")
    out = []
    for start in range(0, len(inputs), batch_size):
        chunk = inputs[start:start + batch_size]
        if modality == "video" and chunk.dtype == np.uint8:
            chunk = chunk.astype(np.float32) / 255.0
        out.append(np.asarray(model.embed(tf.convert_to_tensor(chunk), modality, space, training=False)))
    return np.concatenate(out, axis=0).astype(np.float32)


def ranked_metrics(query, gallery, query_ids, gallery_ids, ks=(1, 5, 10)):
    """{"r1", "r5", "r10", "median_rank"} of query -> gallery retrieval (a hit: equal ids)."""
    ranks = retrieval_ranks(query, gallery, query_ids, gallery_ids)
    metrics = {f"r{k}": float(np.mean(ranks <= k)) for k in ks}
    metrics["median_rank"] = float(np.median(ranks))
    return metrics


def retrieval_entry(query, gallery, query_class, gallery_class, query_instance, gallery_instance):
    """Class-level metrics, with the instance-level ones under "instance".

    Args:
      query: (Nq, D); gallery: (Ng, D) embeddings of one joint space.
      query_class, gallery_class: int (Nq,), (Ng,): a hit is an equal class.
      query_instance, gallery_instance: int ids of the underlying clip: a hit is the same clip.
    """
    entry = ranked_metrics(query, gallery, query_class, gallery_class)
    entry["instance"] = ranked_metrics(query, gallery, query_instance, gallery_instance)
    return entry


def _unit(x):
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def class_prompt_embeddings(model, prompts, space, batch_size=256):
    """One unit embedding per class: the mean of its prompts' unit text embeddings, re-normalised.

    Args:
      prompts: C lists of strings (tokenised by `model.tokenizer`) or an int
        array (C, P, L) of word ids.
    Returns:
      float32 numpy (C, D).
    """
    if isinstance(prompts, np.ndarray) and prompts.dtype.kind in "iu":
        ids = prompts.reshape(-1, prompts.shape[-1])
        counts = [prompts.shape[1]] * prompts.shape[0]
    else:
        if not prompts or not all(len(p) for p in prompts):
            raise ValueError("`prompts` must give at least one prompt per class")
        if getattr(model, "tokenizer", None) is None:
            raise ValueError("string `prompts` need a model with a `tokenizer`")
        flat = [text for class_prompts in prompts for text in class_prompts]
        ids = np.asarray(model.tokenizer(tf.constant(flat)))
        counts = [len(p) for p in prompts]
    embedded = _unit(embed_batches(model, ids, "text", space, batch_size))
    bounds = np.cumsum([0] + counts)
    return _unit(np.stack([embedded[a:b].mean(axis=0) for a, b in zip(bounds[:-1], bounds[1:])]))


def _probe(train_x, train_y, test_x, test_y):
    return float(linear_probe(None, train_x, train_y, test_x, test_y)["top1"])


def _multi_hot(train_clips, test_clips):
    """{0, 1} (N, C) targets of both splits: their `labels` when given, else one-hot `label`."""
    if "labels" in train_clips and "labels" in test_clips:
        return np.asarray(train_clips["labels"]), np.asarray(test_clips["labels"])
    classes = int(max(np.max(train_clips["label"]), np.max(test_clips["label"]))) + 1
    return (one_hot_targets(train_clips["label"], classes), one_hot_targets(test_clips["label"], classes))


def _check_clips(clips, name, need_text_class=False):
    for key in ("video", "audio", "audio_mask", "label"):
        if key not in clips:
            raise ValueError(f"`{name}` must hold {key!r} (video, audio, audio_mask, label), got {sorted(clips)}")
    n = len(clips["label"])
    for key in ("video", "audio", "audio_mask"):
        if len(clips[key]) != n:
            raise ValueError(f"`{name}[{key!r}]` has {len(clips[key])} rows but `label` has {n}")
    if need_text_class and "text_class" in clips and len(clips["text_class"]) != n:
        raise ValueError(f"`{name}['text_class']` must have one class per clip ({n})")


def multimodal_report(model, train_clips, test_clips, queries, prompts, batch_size=128, keep_embeddings=False):
    """Retrieval, linear probes, zero-shot and per-subset metrics of a video-audio-text model.

    Args:
      model: see the module docstring.
      train_clips: dict with `video` (N, T, H, W, 3) uint8 or float in [0, 1],
        `audio` (N, samples), `audio_mask` (N,), `label` int (N,): the probes' training set;
        optional `text_ids` (N, L) and `text_mask` (N,) for the text probe, and `labels`
        {0, 1} (N, C) multi-hot classes (AudioSet) for the audio mAP (default: one-hot `label`).
      test_clips: the same for the evaluation split, plus optional `text_class` int
        (N,): the class a narration must name to hit the clip (default `label`).
      queries: dict with `ids` int (M, L) narrations and `clip` int (M,), the test clip
        each describes (a text query hits clips of `text_class[clip]`).
      prompts: C class prompt lists (strings) or ids (C, P, L) for zero-shot
        classification of `label` (C classes) through the video-text space.
      keep_embeddings: also return the test embeddings under "embeddings" (for plots).
    Returns:
      dict with "retrieval" -> {text_to_video, video_to_text, audio_to_video,
      video_to_audio} -> {r1, r5, r10, median_rank, instance}, "video_linear_probe_top1",
      "audio_linear_probe_top1", "audio_linear_probe_map" (per-class logistic probes, AudioSet's
      mAP), "zero_shot_video_top1", "missing_modality"
      -> {no_audio, no_text, video_only, audio_only, text_only} -> the metrics
      those streams allow, with "retrieval" entries where a pair remains.
    """
    _check_clips(train_clips, "train_clips")
    _check_clips(test_clips, "test_clips", need_text_class=True)
    query_ids = np.asarray(queries["ids"])
    query_clip = np.asarray(queries["clip"], np.int64)
    if query_ids.ndim != 2 or query_clip.shape != (len(query_ids),):
        raise ValueError(f"`queries` must hold ids (M, L) and clip (M,), got {query_ids.shape} and {query_clip.shape}")
    labels = np.asarray(test_clips["label"], np.int64)
    text_class = np.asarray(test_clips.get("text_class", labels), np.int64)
    has_audio = np.asarray(test_clips["audio_mask"]) > 0.5
    train_has_audio = np.asarray(train_clips["audio_mask"]) > 0.5
    va = model.common_space("video", "audio")
    vt = model.common_space("video", "text")
    at = model.common_space("audio", "text")
    clips = np.arange(len(labels))

    def emb(data, modality, space):
        return embed_batches(model, data, modality, space, batch_size)

    video = {space: emb(test_clips["video"], "video", space) for space in {"features", va, vt} if space}
    audio_spaces = {"features", va} | ({at} if at else set())
    audio = {space: emb(test_clips["audio"][has_audio], "audio", space) for space in audio_spaces if space}
    text = emb(query_ids, "text", vt)
    audio_clips = clips[has_audio]

    retrieval = {
        "text_to_video": retrieval_entry(text, video[vt], text_class[query_clip], text_class, query_clip, clips),
        "video_to_text": retrieval_entry(video[vt][query_clip], text, text_class[query_clip], text_class[query_clip],
                                         query_clip, query_clip),
        "audio_to_video": retrieval_entry(audio[va], video[va], labels[has_audio], labels, audio_clips, clips),
        "video_to_audio": retrieval_entry(video[va][has_audio], audio[va], labels[has_audio], labels[has_audio],
                                          audio_clips, audio_clips),
    }
    # Clips embedded from video and (where present) audio in the video-text space.
    fused = None
    if at == vt:
        fused = video[vt].copy()
        fused[has_audio] = _unit(_unit(video[vt][has_audio]) + _unit(audio[at]))
        retrieval["text_to_video_audio"] = retrieval_entry(text, fused, text_class[query_clip], text_class,
                                                           query_clip, clips)
        # Audio <-> text: clips with both (a hit is the same digit; audio names no direction).
        both = np.isin(audio_clips, query_clip)
        voiced_queries = np.isin(query_clip, audio_clips)
        if both.any():
            retrieval["audio_to_text"] = retrieval_entry(audio[at][both], text, labels[audio_clips[both]],
                                                         labels[query_clip], audio_clips[both], query_clip)
            retrieval["text_to_audio"] = retrieval_entry(text[voiced_queries], audio[at], labels[query_clip][voiced_queries],
                                                         labels[has_audio], query_clip[voiced_queries], audio_clips)

    train_video = emb(train_clips["video"], "video", "features")
    train_audio = emb(np.asarray(train_clips["audio"])[train_has_audio], "audio", "features")
    train_labels = np.asarray(train_clips["label"], np.int64)
    video_probe = _probe(train_video, train_labels, video["features"], labels)
    audio_probe = _probe(train_audio, train_labels[train_has_audio], audio["features"], labels[has_audio])
    train_targets, test_targets = _multi_hot(train_clips, test_clips)
    audio_map = multilabel_linear_probe(train_audio, train_targets[train_has_audio], audio["features"],
                                        test_targets[has_audio])["map"]
    classes = class_prompt_embeddings(model, prompts, vt)
    zero_shot = top_k_accuracy(_unit(video[vt]) @ classes.T, labels)["top1"]
    text_probe = None
    if "text_ids" in train_clips:
        train_text_rows = np.asarray(train_clips.get("text_mask", np.ones(len(train_labels)))) > 0.5
        train_text = emb(np.asarray(train_clips["text_ids"])[train_text_rows], "text", "features")
        text_probe = _probe(train_text, train_labels[train_text_rows], emb(query_ids, "text", "features"),
                            labels[query_clip])

    report = {
        "retrieval": retrieval,
        "video_linear_probe_top1": video_probe,
        "audio_linear_probe_top1": audio_probe,
        "audio_linear_probe_map": audio_map,
        "zero_shot_video_top1": float(zero_shot),
    }
    if text_probe is not None:
        report["text_linear_probe_top1"] = text_probe
    without_audio = {key: retrieval[key] for key in ("text_to_video", "video_to_text")}
    report["missing_modality"] = {
        # The video alone in every video-text metric (no audio fused in).
        "no_audio": {"retrieval": without_audio, "video_linear_probe_top1": video_probe,
                     "zero_shot_video_top1": float(zero_shot),
                     **({"text_linear_probe_top1": text_probe} if text_probe is not None else {})},
        "no_text": {"retrieval": {key: retrieval[key] for key in ("audio_to_video", "video_to_audio")},
                    "video_linear_probe_top1": video_probe, "audio_linear_probe_top1": audio_probe,
                    "audio_linear_probe_map": audio_map},
        "video_only": {"video_linear_probe_top1": video_probe},
        "audio_only": {"audio_linear_probe_top1": audio_probe, "audio_linear_probe_map": audio_map},
        "text_only": {"text_linear_probe_top1": text_probe} if text_probe is not None else {},
    }
    if fused is not None:
        # The audio in the video-text space stands in for the missing video.
        audio_zero_shot = top_k_accuracy(_unit(audio[at]) @ classes.T, labels[has_audio])["top1"]
        report["missing_modality"]["audio_only"]["zero_shot_audio_top1"] = float(audio_zero_shot)
        report["missing_modality"]["no_video"] = {
            "retrieval": {key: retrieval[key] for key in ("audio_to_text", "text_to_audio") if key in retrieval},
            "audio_linear_probe_top1": audio_probe, "zero_shot_audio_top1": float(audio_zero_shot)}
    if keep_embeddings:
        report["embeddings"] = {"video_vt": video[vt], "text": text, "query_clip": query_clip,
                                "video_va": video[va], "audio_va": audio[va], "audio_clips": audio_clips}
    return report


__all__ = ["MODALITY_SUBSETS", "class_prompt_embeddings", "embed_batches", "multimodal_report", "ranked_metrics",
           "retrieval_entry"]
