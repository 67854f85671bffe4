"""The generic CSV format of DMVR's generator: `video_path,start,end[,label,caption]`.

A header line names the columns; `start` and `end` are seconds; `label` a class
name or index; `caption` a narration over the clip. As in DMVR, labels are names:
when every label is a non-negative integer it is the class index itself, otherwise the names
are numbered in sorted order (deterministic, unlike DMVR's set order); the name is
stored as `clip/label/text` either way. Relative video paths are resolved against
--media_dir (default: the CSV's folder).
"""
import csv
import os

from sslzoo.data.prepare.errors import AnnotationError
from sslzoo.data.prepare.records import ClipSpec, number, readable

REQUIRED = ("video_path", "start", "end")


def _label_index(names):
    """{name: index}: the integers themselves when all names are non-negative integers, else
    sorted order (a name "-1" must not become index -1, which readers take for "no label")."""
    try:
        index = {name: int(name) for name in names}
    except ValueError:
        index = {}
    if index and min(index.values()) >= 0:
        return index
    return {name: i for i, name in enumerate(sorted(names))}


def parse(paths, media_dir=None):
    """[CSV files] -> list of ClipSpec (subset: the CSV's name without extension)."""
    rows = []
    for path in paths:
        base = media_dir or os.path.dirname(os.path.abspath(path))
        subset = os.path.basename(path).rsplit(".", 1)[0]
        with readable(path) as position, open(path, encoding="utf-8", newline="") as f:
            reader = position.reader = csv.DictReader(f)
            missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
            if missing:
                raise AnnotationError(path, "header", missing[0],
                                      "missing column; expected video_path,start,end[,label,caption]")
            for line, row in enumerate(reader, start=2):
                record = f"line {line}"
                if not row["video_path"]:
                    raise AnnotationError(path, record, "video_path", "empty")
                start = number(path, record, "start", row["start"])
                end = number(path, record, "end", row["end"])
                if end < start:
                    raise AnnotationError(path, record, "end", f"{end} is before start {start}")
                rows.append((row, start, end, subset, os.path.join(base, row["video_path"])))
    index = _label_index({row["label"] for row, *_ in rows if row.get("label")})
    clips = []
    for row, start, end, subset, media_path in rows:
        label = row.get("label")
        captions = [(start, end, row["caption"])] if row.get("caption") else []
        clips.append(ClipSpec(video_id=row["video_path"], start=start, end=end, captions=captions,
                              labels=[index[label]] if label else [], label_texts=[label] if label else [],
                              subset=subset, media_path=media_path))
    return clips
