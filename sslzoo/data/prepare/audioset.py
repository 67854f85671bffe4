"""AudioSet: segment CSVs with `class_labels_indices.csv`; multi-label, no narrations.

Segment CSVs (`balanced_train_segments.csv`, ...) start with `#` header lines, then
`YTID, start_seconds, end_seconds, "mid1,mid2,..."`. `class_labels_indices.csv`
(`index,mid,display_name`) maps each mid to its index; every positive label is
stored. The clip is [start_seconds, end_seconds] of the media when the file is
the full video, and the whole file when it is the downloaded 10-s cut
(`ClipSpec.maybe_cut`). The subset is the CSV's name
without `_segments.csv` ("balanced_train", "eval", ...).
"""
import csv
import os

from sslzoo.data.prepare.errors import AnnotationError
from sslzoo.data.prepare.records import ClipSpec, number, readable

CLASS_FIELDS = ("index", "mid", "display_name")


def read_class_indices(path):
    """class_labels_indices.csv -> {mid: (index, display_name)}."""
    with readable(path) as position, open(path, encoding="utf-8", newline="") as f:
        reader = position.reader = csv.DictReader(f)
        missing = [c for c in CLASS_FIELDS if c not in (reader.fieldnames or [])]
        if missing:
            raise AnnotationError(path, "header", missing[0], f"missing column; expected {', '.join(CLASS_FIELDS)}")
        classes = {}
        for line, row in enumerate(reader, start=2):
            try:
                classes[row["mid"]] = (int(row["index"]), row["display_name"])
            except (TypeError, ValueError):
                raise AnnotationError(path, f"line {line}", "index", f"expected an integer, got {row['index']!r}") from None
    return classes


def read_segments(path, classes):
    """One segment CSV -> list of ClipSpec (clip times relative to the full video)."""
    subset = os.path.basename(path).rsplit(".", 1)[0].replace("_segments", "")
    clips = []
    with readable(path) as position, open(path, encoding="utf-8", newline="") as f:
        rows = position.reader = csv.reader((line for line in f if not line.startswith("#")), skipinitialspace=True)
        for line, row in enumerate(rows, start=1):
            if not row:
                continue
            if len(row) != 4:
                raise AnnotationError(path, f"data row {line}", "YTID,start_seconds,end_seconds,positive_labels",
                                      f"expected 4 fields, got {len(row)}")
            ytid, start, end, positives = row
            record = f"{ytid} (data row {line})"
            start = number(path, record, "start_seconds", start)
            end = number(path, record, "end_seconds", end)
            labels, texts = [], []
            for mid in filter(None, positives.split(",")):
                if mid not in classes:
                    raise AnnotationError(path, record, "positive_labels", f"unknown label mid {mid!r}")
                labels.append(classes[mid][0])
                texts.append(classes[mid][1])
            clips.append(ClipSpec(video_id=ytid, start=start, end=end, labels=labels, label_texts=texts,
                                  subset=subset, maybe_cut=True))
    return clips


def parse(paths):
    """[segment CSVs..., class_labels_indices.csv] -> list of ClipSpec."""
    index_files = [p for p in paths if os.path.basename(p).startswith("class_labels_indices")]
    if not index_files:
        raise AnnotationError(",".join(paths), "-", "--annotations", "expected class_labels_indices.csv among the files")
    classes = read_class_indices(index_files[0])
    clips = []
    for path in paths:
        if path not in index_files:
            clips.extend(read_segments(path, classes))
    return clips
