"""HowTo100M: caption JSON `{video_id: {start, end, text}}` and `HowTo100M_v1.csv` labels.

One clip per video (its whole length), holding all its narrations with their
times, as MIL-NCE and MMV sample windows from whole videos. The task label is
`task_id` from `HowTo100M_v1.csv` (`video_id,category_1,category_2,rank,task_id`),
with `category_2` as its text.
"""
import csv

from sslzoo.data.prepare.errors import AnnotationError
from sslzoo.data.prepare.records import ClipSpec, load_json, number, readable, require

CSV_FIELDS = ("video_id", "category_1", "category_2", "rank", "task_id")


def read_task_csv(path):
    """HowTo100M_v1.csv -> {video_id: (task_id, category_2)}."""
    with readable(path) as position, open(path, encoding="utf-8", newline="") as f:
        reader = position.reader = csv.DictReader(f)
        missing = [c for c in CSV_FIELDS if c not in (reader.fieldnames or [])]
        if missing:
            raise AnnotationError(path, "header", missing[0], f"missing column; expected {', '.join(CSV_FIELDS)}")
        tasks = {}
        for line, row in enumerate(reader, start=2):
            try:
                tasks[row["video_id"]] = (int(row["task_id"]), row["category_2"])
            except (TypeError, ValueError):
                raise AnnotationError(path, f"line {line}", "task_id",
                                      f"expected an integer, got {row['task_id']!r}") from None
    return tasks


def parse(paths):
    """[caption JSON, optional HowTo100M_v1.csv] -> list of ClipSpec (subset "train")."""
    captions_path = next((p for p in paths if p.lower().endswith(".json")), None)
    if captions_path is None:
        raise AnnotationError(",".join(paths), "-", "--annotations", "expected a caption .json file")
    tasks = {}
    for path in paths:
        if path.lower().endswith(".csv"):
            tasks.update(read_task_csv(path))
    data = load_json(captions_path)
    if not isinstance(data, dict):
        raise AnnotationError(captions_path, "<top level>", "<object>", "expected {video_id: {start, end, text}}")
    clips = []
    for video_id in sorted(data):
        entry = data[video_id]
        starts = require(captions_path, video_id, entry, "start", list)
        ends = require(captions_path, video_id, entry, "end", list)
        texts = require(captions_path, video_id, entry, "text", list)
        if not len(starts) == len(ends) == len(texts):
            raise AnnotationError(captions_path, video_id, "start/end/text",
                                  f"lengths differ: {len(starts)}, {len(ends)}, {len(texts)}")
        narrations = []
        for i, (s, e, t) in enumerate(zip(starts, ends, texts)):
            s = number(captions_path, f"{video_id}[{i}]", "start", s)
            e = number(captions_path, f"{video_id}[{i}]", "end", e)
            if not isinstance(t, str):
                raise AnnotationError(captions_path, f"{video_id}[{i}]", "text", f"expected a string, got {t!r}")
            narrations.append((s, max(s, e), t))
        task = tasks.get(video_id)
        clips.append(ClipSpec(video_id=video_id, captions=narrations,
                              labels=[task[0]] if task else [], label_texts=[task[1]] if task else []))
    return clips
