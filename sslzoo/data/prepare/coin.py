"""COIN: `COIN.json`, one clip per video, its steps as timed narrations.

`{"database": {video_id: {"duration", "class", "video_url", "start", "end",
"annotation": [{"id", "segment": [s, e], "label"}], "subset", "recipe_type"}}}`.
The video label is `recipe_type` (the task index) with `class` as its text; each
step's `label` is a narration over its `segment`; `subset` ("training",
"testing") names the output shards. The clip spans `start`..`end` when given.
"""
from sslzoo.data.prepare.errors import AnnotationError
from sslzoo.data.prepare.records import ClipSpec, load_json, number, require, segment


def parse(paths):
    """[COIN.json] -> list of ClipSpec."""
    clips = []
    for path in paths:
        database = require(path, "<top level>", load_json(path), "database", dict)
        for video_id in sorted(database):
            entry = database[video_id]
            steps = require(path, video_id, entry, "annotation", list)
            subset = require(path, video_id, entry, "subset", str)
            name = require(path, video_id, entry, "class", str)
            try:
                label = int(require(path, video_id, entry, "recipe_type"))
            except (TypeError, ValueError):
                raise AnnotationError(path, video_id, "recipe_type", f"expected an integer, got {entry['recipe_type']!r}") from None
            start = number(path, video_id, "start", entry["start"]) if "start" in entry else 0.0
            end = number(path, video_id, "end", entry["end"]) if "end" in entry else None
            narrations = []
            for i, step in enumerate(steps):
                record = f"{video_id}/annotation[{i}]"
                s, e = segment(path, record, "segment", require(path, record, step, "segment"))
                narrations.append((s, e, require(path, record, step, "label", str)))
            clips.append(ClipSpec(video_id=video_id, start=start, end=end, captions=narrations, labels=[label],
                                  label_texts=[name], subset=subset))
    return clips
