"""YouCook2: `youcookii_annotations_trainval.json`, one clip per annotated segment.

`{"database": {video_id: {"annotations": [{"id", "segment": [s, e], "sentence"}],
"duration", "recipe_type", "subset", "video_url"}}}`. Each segment becomes a clip
with its sentence as the narration; `recipe_type` is the label; `subset`
("training", "validation") names the output shards. The segments-only test file
(`youcookii_annotations_test_segments_only.json`, subset "testing") has no
sentences: its clips carry none.
"""
from sslzoo.data.prepare.errors import AnnotationError
from sslzoo.data.prepare.records import ClipSpec, load_json, require, segment


def parse(paths):
    """[youcookii_annotations_trainval.json, ...] -> list of ClipSpec."""
    clips = []
    for path in paths:
        database = require(path, "<top level>", load_json(path), "database", dict)
        for video_id in sorted(database):
            entry = database[video_id]
            annotations = require(path, video_id, entry, "annotations", list)
            subset = require(path, video_id, entry, "subset", str)
            recipe = str(require(path, video_id, entry, "recipe_type"))
            try:
                label = int(recipe)
            except ValueError:
                raise AnnotationError(path, video_id, "recipe_type", f"expected an integer id, got {recipe!r}") from None
            for i, annotation in enumerate(annotations):
                record = f"{video_id}/annotations[{i}]"
                start, end = segment(path, record, "segment", require(path, record, annotation, "segment"))
                if subset == "testing" and "sentence" not in annotation:  # the segments-only test file
                    captions = []
                else:
                    captions = [(start, end, require(path, record, annotation, "sentence", str))]
                clips.append(ClipSpec(video_id=video_id, start=start, end=end, captions=captions,
                                      labels=[label], label_texts=[recipe], subset=subset))
    return clips
