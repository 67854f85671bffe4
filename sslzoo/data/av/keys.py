"""Feature keys of the DMVR `tf.train.SequenceExample` layout, and shard names.

DeepMind's DMVR (github.com/deepmind/dmvr) stores one clip per SequenceExample:

feature lists (one entry per time step)
  `image/encoded`            one JPEG per video frame
  `WAVEFORM/feature/floats`  the mono float32 waveform (one float list)
context
  `caption/string`           all narrations of the clip
  `clip/label/index`         int64 class indices (several for multi-label sets)
  `clip/label/text`          their names
  `video/filename`           the source video (or its id)
  `clip/start/timestamp`     µs, where the clip starts in the source video
  `clip/end/timestamp`       µs, where it ends

sslzoo's documented extension (ignored by DMVR readers): `caption/start/timestamp`
and `caption/end/timestamp`, µs in the source video's time, parallel to
`caption/string`, so a reader can choose the narrations nearest in time to the
window it samples (MIL-NCE candidates).
"""
IMAGE = "image/encoded"
AUDIO = "WAVEFORM/feature/floats"
CAPTION = "caption/string"
CAPTION_START = "caption/start/timestamp"
CAPTION_END = "caption/end/timestamp"
LABEL_INDEX = "clip/label/index"
LABEL_TEXT = "clip/label/text"
FILENAME = "video/filename"
CLIP_START = "clip/start/timestamp"
CLIP_END = "clip/end/timestamp"

MICROSECONDS = 1_000_000


def shard_name(prefix, index, num_shards):
    """`prefix-00003-of-00016`: the DMVR / tensorflow-datasets shard naming."""
    if num_shards < 1 or not 0 <= index < num_shards:
        raise ValueError(f"shard `index` must be in [0, num_shards={num_shards}), got {index}")
    return f"{prefix}-{index:05d}-of-{num_shards:05d}"


def shard_pattern(prefix):
    """The glob that matches every shard of `prefix`."""
    return f"{prefix}-?????-of-?????"
