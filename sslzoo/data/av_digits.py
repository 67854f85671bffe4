"""AV-digits: the bundled multimodal set (video, audio, narrations), generated offline.

Each clip is 1.6 s: 16 frames at 10 fps on a 32 x 32 canvas, where an MNIST digit
(from `sslzoo.data.digits`) crosses the canvas in one of four directions at a
varying speed, among noise and moving distractor dots. Its audio, at 16 kHz by
default (so MMV's log-mel, 80-7600 Hz, applies unchanged), is the digit's
telephone-keypad (DTMF) chord with jittered pitch, onset and noise, whose
loudness follows the digit's speed. Two narrations (first and second half of the
clip) name the digit (a word, sometimes a numeral) and the direction, from
`TRAIN_TEMPLATES`; `HELD_OUT_TEMPLATES` never appear and are kept for zero-shot
evaluation. As in real data, a fraction of narrations describe the neighbouring
clip (misaligned ASR, as HowTo100M), a fraction of clips have no text (as
AudioSet) and a fraction no sound.

Clip i of a split sits at [1.6 i, 1.6 (i + 1)) s of one long virtual video, so
the neighbouring clip is also the neighbour in time. Splits draw on disjoint
source digits: train (3,500 of the bundled training digits), validation (the
other 500) and test (the 1,000 bundled test digits). Everything derives from
`seed`: the same arguments give the same clips on every machine.

    data = av_digits("train")                   # numpy arrays, 4,000 clips
    av_digits_dataset("train", data=data)       # the same in tf.data, in memory
    write_av_digits("data/avdigits")            # DMVR shards for read_clips
    read_clips("data/avdigits/train-*", **READ_ARGS, training=True)
"""
import json
import os

import numpy as np

from sslzoo.data.av import keys
from sslzoo.data.av.synth import render_audio, render_video, speed_profile
from sslzoo.data.bundled_digits import _split_indices, _raw

CLASS_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
DIRECTIONS = ("left", "right", "up", "down")
TRAIN_TEMPLATES = (
    "the {digit} moves {direction}.",
    "look, {digit} moving {direction}.",
    "here the {digit} slides {direction}.",
    "you can see the number {digit} going {direction}.",
    "now the digit {digit} drifts {direction}.",
    "{digit}, heading {direction}.",
)
HELD_OUT_TEMPLATES = (
    "a video of the number {digit} travelling {direction}.",
    "the digit {digit} is heading {direction} across the screen.",
)
SPLITS = ("train", "validation", "test")
DEFAULT_CLIPS = {"train": 4000, "validation": 1000, "test": 1000}
NUM_FRAMES, FPS, CANVAS, DIGIT_SIDE = 16, 10, 32, 18
SAMPLE_RATE = 16000
NARRATIONS_PER_CLIP = 2
DIRECTION_KEY = "clip/direction/index"
# Arguments for `read_clips` on `write_av_digits` shards (add training, seed, ...).
READ_ARGS = dict(num_frames=NUM_FRAMES, image_size=CANVAS, fps=FPS, audio_sample_rate=SAMPLE_RATE,
                 num_captions=NARRATIONS_PER_CLIP, flip=False, extra_labels={"direction": DIRECTION_KEY})


def _source_indices(split):
    """Indices into the 5,000 bundled digits that `split` may use (disjoint splits)."""
    train, test = _split_indices()
    return {"train": train[:3500], "validation": train[3500:], "test": test}[split]


def _small_digits(indices):
    """float32 (N, DIGIT_SIDE, DIGIT_SIDE) in [0, 1]: the 28 x 28 digits, area-resized."""
    from PIL import Image

    images, _ = _raw()
    return np.stack([np.asarray(Image.fromarray(images[i, :, :, 0]).resize((DIGIT_SIDE, DIGIT_SIDE),
                                                                         Image.BILINEAR), np.float32) / 255.0
                     for i in indices])


def narration(template, digit, direction, numeral=False):
    """One narration: `template` filled with the digit (word or numeral) and direction word."""
    return template.format(digit=str(digit) if numeral else CLASS_NAMES[digit], direction=DIRECTIONS[direction])


def _plan(split, num_clips, seed, misaligned, no_text, silent):
    """Per-clip choices for a whole split (cheap; rendering is per clip)."""
    rng = np.random.default_rng([seed, SPLITS.index(split), 0])
    pool = _source_indices(split)
    _, all_labels = _raw()
    source = rng.choice(pool, num_clips, replace=num_clips > len(pool))
    plan = {
        "source_index": source.astype(np.int64),
        "label": all_labels[source].astype(np.int64),
        "direction": rng.integers(0, len(DIRECTIONS), num_clips).astype(np.int64),
        "template": rng.integers(0, len(TRAIN_TEMPLATES), (num_clips, NARRATIONS_PER_CLIP)),
        "numeral": rng.random((num_clips, NARRATIONS_PER_CLIP)) < 0.3,
        "neighbour": np.where(rng.random((num_clips, NARRATIONS_PER_CLIP)) < misaligned,
                              rng.choice([-1, 1], (num_clips, NARRATIONS_PER_CLIP)), 0),
        "has_text": rng.random(num_clips) >= no_text,
        "has_audio": rng.random(num_clips) >= silent,
    }
    return plan


def _check(split, fraction_args):
    if split not in SPLITS:
        raise ValueError(f"`split` must be one of {SPLITS} for AV-digits, got {split!r}")
    for name, value in fraction_args.items():
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"`{name}` must be a fraction in [0, 1], got {value}")


def av_digits(split="train", num_clips=None, seed=0, sample_rate=SAMPLE_RATE, misaligned_fraction=0.2,
              no_text_fraction=0.1, silent_fraction=0.1, start=0, stop=None):
    """Generates AV-digits clips as numpy arrays.

    Args:
      split: "train", "validation" or "test" (disjoint source digits).
      num_clips: clips in the split (default 4,000 / 1,000 / 1,000).
      seed: everything derives from it (and from the split and clip index).
      sample_rate: audio samples per second (16 kHz: 25,600 samples per clip).
      misaligned_fraction: narrations taken from the neighbouring clip.
      no_text_fraction: clips without narrations; silent_fraction: without audio.
      start, stop: generate only clips [start, stop) of the split (same content as
        in the whole split), to bound memory.
    Returns:
      dict of arrays over the N generated clips:
        video        uint8 (N, 16, 32, 32, 3)
        audio        float32 (N, 1.6 * sample_rate); zeros where audio_mask is 0
        audio_mask   float32 (N,)
        text         str object (N, 2): narrations of the clip's two halves, "" if none
        text_mask    float32 (N, 2)
        aligned      bool (N, 2): the narration describes this clip (not its neighbour)
        label        int64 (N,) digit 0-9; direction int64 (N,) 0-3 (`DIRECTIONS`)
        source_index int64 (N,) into the 5,000 bundled digits
        start        float64 (N,) seconds of the clip in the split's virtual video
    """
    _check(split, dict(misaligned_fraction=misaligned_fraction, no_text_fraction=no_text_fraction,
                       silent_fraction=silent_fraction))
    num_clips = DEFAULT_CLIPS[split] if num_clips is None else int(num_clips)
    if num_clips < 1:
        raise ValueError(f"`num_clips` must be >= 1, got {num_clips}")
    stop = num_clips if stop is None else min(int(stop), num_clips)
    if not 0 <= start < stop:
        raise ValueError(f"`start` must be in [0, stop={stop}), got {start}")
    plan = _plan(split, num_clips, seed, misaligned_fraction, no_text_fraction, silent_fraction)
    clips = range(start, stop)
    digits = _small_digits(plan["source_index"][start:stop])
    duration = NUM_FRAMES / FPS
    videos, audios, texts = [], [], []
    for n, i in enumerate(clips):
        rng = np.random.default_rng([seed, SPLITS.index(split), 1, i])
        speeds = speed_profile(rng, NUM_FRAMES)
        videos.append(render_video(rng, digits[n], plan["direction"][i], speeds, CANVAS))
        audio = render_audio(rng, int(plan["label"][i]), speeds, FPS, sample_rate)
        audios.append(audio if plan["has_audio"][i] else np.zeros_like(audio))
        row = []
        for k in range(NARRATIONS_PER_CLIP):
            j = (i + plan["neighbour"][i, k]) % num_clips
            row.append(narration(TRAIN_TEMPLATES[plan["template"][i, k]], int(plan["label"][j]),
                                 int(plan["direction"][j]), plan["numeral"][i, k]) if plan["has_text"][i] else "")
        texts.append(row)
    chosen = slice(start, stop)
    return {
        "video": np.stack(videos),
        "audio": np.stack(audios),
        "audio_mask": plan["has_audio"][chosen].astype(np.float32),
        "text": np.array(texts, dtype=object),
        "text_mask": np.repeat(plan["has_text"][chosen, None], NARRATIONS_PER_CLIP, 1).astype(np.float32),
        "aligned": plan["neighbour"][chosen] == 0,
        "label": plan["label"][chosen],
        "direction": plan["direction"][chosen],
        "source_index": plan["source_index"][chosen],
        "start": np.arange(start, stop) * duration,
    }


def av_digits_dataset(split="train", training=True, seed=0, data=None, **kwargs):
    """AV-digits as an in-memory `tf.data.Dataset` of unbatched dicts, like `read_clips`'s.

    Elements: `video` float32 (16, 32, 32, 3) in [0, 1], `audio` float32 (25,600,)
    at 16 kHz, `audio_mask` (), `text` string (2,), `text_mask` float32 (2,),
    `label` int64 (), `direction` int64 (). No augmentation (shards + `read_clips`
    add windows and crops); `training` shuffles (seeded) each pass.

    Args:
      data: arrays from `av_digits` to reuse; default `av_digits(split, seed=seed, **kwargs)`.
    """
    import tensorflow as tf

    data = av_digits(split, seed=seed, **kwargs) if data is None else data
    columns = {key: data[key] for key in ("video", "audio", "audio_mask", "text_mask", "label", "direction")}
    columns["text"] = data["text"].astype(str)
    dataset = tf.data.Dataset.from_tensor_slices(columns)
    if training:
        dataset = dataset.shuffle(len(data["label"]), seed=seed, reshuffle_each_iteration=True)

    def to_unit(element):
        return dict(element, video=tf.cast(element["video"], tf.float32) / 255.0)

    return dataset.map(to_unit, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def to_clips(data, split="train"):
    """`av_digits` arrays -> clip dicts for `sslzoo.data.av.write_clips`."""
    duration = NUM_FRAMES / FPS
    half = duration / NARRATIONS_PER_CLIP
    for n in range(len(data["label"])):
        start = float(data["start"][n])
        has_text = bool(data["text_mask"][n, 0])
        yield {
            "frames": data["video"][n],
            "audio": data["audio"][n] if data["audio_mask"][n] else None,
            "captions": list(data["text"][n]) if has_text else [],
            "caption_start": [start + k * half for k in range(NARRATIONS_PER_CLIP)] if has_text else [],
            "caption_end": [start + (k + 1) * half for k in range(NARRATIONS_PER_CLIP)] if has_text else [],
            "label": int(data["label"][n]),
            "label_text": CLASS_NAMES[int(data["label"][n])],
            "filename": f"avdigits/{split}/{int(round(start / duration)):05d}",
            "start": start,
            "end": start + duration,
            "context": {DIRECTION_KEY: [int(data["direction"][n])]},
        }


def write_av_digits(output_dir, splits=SPLITS, seed=0, num_shards=None, chunk=500, num_clips=None, **kwargs):
    """Generates AV-digits and writes DMVR shards `output_dir/<split>-0000i-of-0000N`.

    Args:
      output_dir: created if needed; also receives `metadata.json` (rates, names, templates).
      splits: which splits to write.
      num_shards: shards per split (default: one per 1,000 clips, at least 1).
      chunk: clips generated at a time (bounds memory).
      num_clips: {split: count} or None for the defaults; kwargs go to `av_digits`.
    Returns:
      {split: [shard paths]}.
    """
    from sslzoo.data.av.writer import ShardWriter

    os.makedirs(output_dir, exist_ok=True)
    written = {}
    for split in splits:
        total = (num_clips or {}).get(split, DEFAULT_CLIPS.get(split, 0))
        shards = num_shards or max(1, total // 1000)
        paths = [keys.shard_name(os.path.join(output_dir, split), s, shards) for s in range(shards)]
        writers = [ShardWriter(p) for p in paths]
        for begin in range(0, total, chunk):
            data = av_digits(split, num_clips=total, seed=seed, start=begin, stop=begin + chunk, **kwargs)
            for n, clip in enumerate(to_clips(data, split)):
                writers[(begin + n) % shards].write(clip)
        for writer in writers:
            writer.close()
        written[split] = paths
    metadata = {"fps": FPS, "num_frames": NUM_FRAMES, "image_size": CANVAS, "seed": seed,
                "sample_rate": kwargs.get("sample_rate", SAMPLE_RATE), "class_names": CLASS_NAMES,
                "directions": DIRECTIONS, "direction_key": DIRECTION_KEY, "train_templates": TRAIN_TEMPLATES,
                "held_out_templates": HELD_OUT_TEMPLATES, "splits": {s: len(p) for s, p in written.items()}}
    with open(os.path.join(output_dir, "metadata.json"), "w") as f:
        json.dump(metadata, f, indent=2)
    return written
