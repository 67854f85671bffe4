"""The generic CSV format of DMVR's generator: `video_path,start,end[,label,caption]`.

A header line names the columns; `start` and `end` are seconds; `label` an int
class index; `caption` a narration over the clip. Relative video paths are
resolved against --media_dir (default: the CSV's folder).
"""
import csv
import os

from sslzoo.data.prepare.errors import AnnotationError
from sslzoo.data.prepare.records import ClipSpec, number

REQUIRED = ("video_path", "start", "end")


def parse(paths, media_dir=None):
    """[CSV files] -> list of ClipSpec (subset: the CSV's name without extension)."""
    clips = []
    for path in paths:
        base = media_dir or os.path.dirname(os.path.abspath(path))
        subset = os.path.basename(path).rsplit(".", 1)[0]
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
            if missing:
                raise AnnotationError(path, "header", missing[0], "missing column; expected video_path,start,end[,label,caption]")
            for line, row in enumerate(reader, start=2):
                record = f"line {line}"
                video_path = row["video_path"]
                if not video_path:
                    raise AnnotationError(path, record, "video_path", "empty")
                start = number(path, record, "start", row["start"])
                end = number(path, record, "end", row["end"])
                if end < start:
                    raise AnnotationError(path, record, "end", f"{end} is before start {start}")
                labels = []
                if row.get("label") not in (None, ""):
                    try:
                        labels = [int(row["label"])]
                    except ValueError:
                        raise AnnotationError(path, record, "label", f"expected an integer, got {row['label']!r}") from None
                captions = [(start, end, row["caption"])] if row.get("caption") else []
                clips.append(ClipSpec(video_id=video_path, start=start, end=end, captions=captions, labels=labels,
                                      subset=subset, media_path=os.path.join(base, video_path)))
    return clips
