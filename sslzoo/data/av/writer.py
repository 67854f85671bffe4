"""`write_clips`: clips -> sharded TFRecord files of DMVR SequenceExamples."""
import os

from sslzoo.data.av import keys
from sslzoo.data.av.example import clip_to_example


class ShardWriter:
    """Writes one shard to `path + ".tmp-<pid>"` and renames it into place on `close()`.

    A shard that exists under its final name is therefore always complete, which is
    what lets `sslzoo-prepare` resume by skipping existing shards.
    """

    def __init__(self, path):
        import tensorflow as tf

        self.path = path
        self.temp_path = f"{path}.tmp-{os.getpid()}"
        self._writer = tf.io.TFRecordWriter(self.temp_path)
        self.count = 0

    def write(self, clip, jpeg_quality=90):
        self.write_serialized(clip_to_example(clip, jpeg_quality).SerializeToString())

    def write_serialized(self, record):
        self._writer.write(record)
        self.count += 1

    def close(self):
        self._writer.close()
        os.replace(self.temp_path, self.path)

    def abort(self):
        self._writer.close()
        if os.path.exists(self.temp_path):
            os.remove(self.temp_path)


def write_clips(path, clips, num_shards=1, jpeg_quality=90):
    """Writes clips as DMVR SequenceExamples, clip i into shard i % num_shards.

    Args:
      path: shard prefix "DIR/NAME"; files are `DIR/NAME-00000-of-000NN` (DIR is created).
      clips: iterable of clip dicts (see `sslzoo.data.av.example`): `frames` uint8
        (T, H, W, 3) or JPEG bytes, `audio` float32 (N,), `captions` with
        `caption_start`/`caption_end` seconds, `label`, `label_text`, `filename`,
        `start`/`end` seconds, extra `context`.
      num_shards: int >= 1.
      jpeg_quality: 1..100, for frames given as arrays.
    Returns:
      The list of shard paths, in order. Each shard is written to a temporary
      file and renamed into place when complete.
    """
    if int(num_shards) != num_shards or num_shards < 1:
        raise ValueError(f"`num_shards` must be a positive int, got {num_shards!r}")
    if not 1 <= jpeg_quality <= 100:
        raise ValueError(f"`jpeg_quality` must be in [1, 100], got {jpeg_quality}")
    directory = os.path.dirname(os.fspath(path))
    if directory:
        os.makedirs(directory, exist_ok=True)
    paths = [keys.shard_name(os.fspath(path), i, num_shards) for i in range(num_shards)]
    writers = [ShardWriter(p) for p in paths]
    try:
        for i, clip in enumerate(clips):
            writers[i % num_shards].write(clip, jpeg_quality)
    except BaseException:
        for writer in writers:
            writer.abort()
        raise
    for writer in writers:
        writer.close()
    return paths
