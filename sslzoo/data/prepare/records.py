"""`ClipSpec`: one clip to convert, as every annotation parser returns it."""
import contextlib
import csv
import dataclasses
import math
from typing import List, Optional, Tuple

from sslzoo.data.prepare.errors import AnnotationError


@dataclasses.dataclass
class ClipSpec:
    """One output clip (one SequenceExample).

    Attributes:
      video_id: the media's id (found in --media_dir) or, for the csv format, its path.
      start, end: seconds in the media; `end=None` means to the end of the media.
      captions: [(start_s, end_s, text)] narrations in media time.
      labels: class indices (several for multi-label sets); label_texts parallel.
      subset: output shard family ("train", "validation", ...).
      media_path: an explicit path (csv format), else found from `video_id`.
      maybe_cut: the media file may hold only [start, end] (AudioSet downloads):
        when it ends before `start`, it is decoded from 0 for `end - start` s.
    """

    video_id: str
    start: float = 0.0
    end: Optional[float] = None
    captions: List[Tuple[float, float, str]] = dataclasses.field(default_factory=list)
    labels: List[int] = dataclasses.field(default_factory=list)
    label_texts: List[str] = dataclasses.field(default_factory=list)
    subset: str = "train"
    media_path: Optional[str] = None
    maybe_cut: bool = False


def number(path, record, field, value):
    """`value` as a float, or an AnnotationError naming file, record and field."""
    try:
        result = float(value)
    except (TypeError, ValueError):
        raise AnnotationError(path, record, field, f"expected a number, got {value!r}") from None
    if not math.isfinite(result) or result < 0:
        raise AnnotationError(path, record, field, f"expected a finite non-negative number, got {value!r}")
    return result


def segment(path, record, field, value):
    """A `[start, end]` pair of seconds with start <= end."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise AnnotationError(path, record, field, f"expected [start, end], got {value!r}")
    start, end = (number(path, record, field, v) for v in value)
    if end < start:
        raise AnnotationError(path, record, field, f"end {end} is before start {start}")
    return start, end


def require(path, record, mapping, field, kind=None):
    """`mapping[field]`, checked to exist (and to be of `kind`)."""
    if not isinstance(mapping, dict):
        raise AnnotationError(path, record, field, f"expected an object holding {field!r}, got {type(mapping).__name__}")
    if field not in mapping:
        raise AnnotationError(path, record, field, "missing")
    value = mapping[field]
    if kind is not None and not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise AnnotationError(path, record, field, f"expected {names}, got {type(value).__name__}")
    return value


class _Position:
    """Where `readable` reports a CSV error: the caller sets `reader` to its csv reader."""

    reader = None


@contextlib.contextmanager
def readable(path):
    """Turns a text file that is not UTF-8, or CSV the csv module cannot read (a NUL byte, a
    field over its size limit), into an AnnotationError naming the file and the line.

        with readable(path) as position, open(path, encoding="utf-8", newline="") as f:
            reader = position.reader = csv.DictReader(f)
    """
    position = _Position()
    try:
        yield position
    except UnicodeDecodeError as e:
        raise AnnotationError(path, f"byte {e.start}", "<encoding>", f"not UTF-8 text: {e.reason}") from None
    except csv.Error as e:
        line = f"line {position.reader.line_num}" if position.reader is not None else "-"
        raise AnnotationError(path, line, "<csv>", f"malformed CSV: {e}") from None


def load_json(path):
    """A JSON file, or an AnnotationError naming it."""
    import json

    try:
        with readable(path), open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise AnnotationError(path, f"line {e.lineno}", "<json>", f"not valid JSON: {e.msg}") from None
