"""Errors of `sslzoo-prepare`: malformed annotations (fatal) and bad media (skipped)."""


class AnnotationError(ValueError):
    """A malformed annotation file: names the file, the record and the field."""

    def __init__(self, path, record, field, problem):
        self.path, self.record, self.field = str(path), str(record), str(field)
        super().__init__(f"{path}: record {record!r}, field {field!r}: {problem}")


class MediaError(RuntimeError):
    """A media file that is missing, truncated or undecodable (skipped unless --strict)."""
