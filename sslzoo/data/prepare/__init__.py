"""Media + annotations on disk -> DMVR shards (the library behind `sslzoo-prepare`).

- One parser per annotation format, each `parse(paths) -> [ClipSpec]`:
  `howto100m`, `youcook2`, `coin`, `audioset`, `csv_format`.
- `prepare(specs, output_dir, ...)`: decode with PyAV, write shards in parallel
  processes, resume, skip and report bad media (`prepare_report.json`).
- `AnnotationError` (file, record, field) for malformed annotations; `MediaError`
  for a missing, truncated or undecodable media file.
"""
from sslzoo.data.prepare import audioset, coin, csv_format, howto100m, youcook2
from sslzoo.data.prepare.convert import clip_from_media, prepare
from sslzoo.data.prepare.errors import AnnotationError, MediaError
from sslzoo.data.prepare.media import decode_span, find_media
from sslzoo.data.prepare.records import ClipSpec

PARSERS = {
    "howto100m": howto100m.parse,
    "youcook2": youcook2.parse,
    "coin": coin.parse,
    "audioset": audioset.parse,
    "csv": csv_format.parse,
}

__all__ = ["AnnotationError", "ClipSpec", "MediaError", "PARSERS", "clip_from_media", "decode_span", "find_media",
           "prepare"]
