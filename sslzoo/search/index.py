"""`Index`: media embeddings per joint space, their metadata, and top-k search.

On disk (`save(dir)` / `Index.load(dir)`), in open formats only:

    index.json            manifest: format, encoder path and fingerprint, spaces, backend
    metadata.jsonl        one JSON object per item: id, path, media, start, end, label, caption
    <space>.vectors.npy   float32 (N, D) unit vectors of that space
    <space>.ids.npy       int64 (N,) item ids of those rows
    <space>.faiss         faiss's own index file (a cache; rebuilt from the .npy if absent)

The encoder's fingerprint (`sslzoo.search.encoder.fingerprint`) is stored; a
query embedded by an encoder whose fingerprint differs is refused.
"""
import json
import os
import pathlib
import shutil
import tempfile

import numpy as np

from sslzoo.search import backends as backends_lib
from sslzoo.search import media as media_lib
from sslzoo.search.builder import embed_media
from sslzoo.search.encoder import Encoder, load_encoder

FORMAT = "sslzoo.search.index/1"
MANIFEST = "index.json"
METADATA = "metadata.jsonl"


class EncoderMismatchError(ValueError):
    """The query encoder is not the one the index was built with."""


class Index:
    """Embeddings of media items in one or more joint spaces, searchable by any modality.

    Args:
      encoder: an `Encoder`, an export folder, or None (a vector-only index, or the
        encoder is loaded from the manifest when a query needs it).
      backend: "faiss", "numpy" or "milvus".
      backend_options: keyword arguments of the backend (faiss `factory`,
        `memory_bytes`; milvus `uri`, ...).
      space: default space for queries (None: the first one indexed).
    """

    def __init__(self, encoder=None, backend="faiss", backend_options=None, space=None):
        if backend not in backends_lib.available_backends():
            raise ValueError(f"`backend` must be one of {backends_lib.available_backends()}, got {backend!r}")
        self.backend_name = backend
        self.backend_options = dict(backend_options or {})
        self.default_space = space
        self.records = {}  # id -> metadata dict
        self.roots = []
        self.skipped = []
        self._vectors = {}  # space -> float32 (N, D)
        self._ids = {}  # space -> int64 (N,)
        self._backends = {}
        self._next_id = 0
        self._encoder = None
        self.encoder_path = None
        self.fingerprint = None
        if encoder is not None:
            self.set_encoder(encoder)

    # --------------------------------------------------------------- encoder
    def set_encoder(self, encoder):
        """Uses `encoder` (an `Encoder` or export folder) for embedding and queries; an index
        that already has a fingerprint refuses a different encoder (EncoderMismatchError)."""
        encoder = encoder if isinstance(encoder, Encoder) else load_encoder(encoder)
        if self.fingerprint is not None and encoder.fingerprint != self.fingerprint:
            raise EncoderMismatchError(
                f"`encoder` {encoder.path!r} has fingerprint {encoder.fingerprint[:16]}..., but this "
                f"index was built with {self.encoder_path!r} (fingerprint {self.fingerprint[:16]}...); "
                "its embeddings are not comparable: query with the original encoder or rebuild the index")
        self._encoder, self.encoder_path, self.fingerprint = encoder, encoder.path, encoder.fingerprint

    @property
    def encoder(self):
        """The `Encoder`, loaded from the manifest's path (and fingerprint-checked) on first use."""
        if self._encoder is None:
            if self.encoder_path is None:
                raise ValueError("this index has no encoder; query it with a vector")
            if not os.path.isdir(self.encoder_path):
                raise ValueError(f"the index's encoder {self.encoder_path!r} is missing; pass `encoder=`")
            self.set_encoder(self.encoder_path)
        return self._encoder

    # ------------------------------------------------------------------ add
    @property
    def spaces(self):
        return tuple(self._vectors)

    def __len__(self):
        return len(self.records)

    def dim(self, space):
        return self._vectors[self._check_space(space)].shape[1]

    def add(self, sources, clip_seconds=None, batch_size=64, progress=False):
        """Embeds and adds media files/folders. Returns the new ids; `skipped` lists failures."""
        out = embed_media(self.encoder, sources, clip_seconds=clip_seconds, batch_size=batch_size,
                          progress=progress)
        for source in [sources] if isinstance(sources, (str, os.PathLike)) else sources:
            root = os.path.abspath(os.fspath(source))
            root = root if os.path.isdir(root) else os.path.dirname(root)
            if root not in self.roots:
                self.roots.append(root)
        self.skipped.extend(out.skipped)
        rows, vectors = out.rows, out.vectors
        kept = sorted(set(np.concatenate(list(rows.values())).tolist())) if rows else []
        new_ids = {row: self._next_id + n for n, row in enumerate(kept)}
        self._next_id += len(kept)
        for row in kept:
            self.records[new_ids[row]] = {"id": new_ids[row], **out.records[row]}
        for space in rows:
            self.add_vectors(space, vectors[space], [new_ids[r] for r in rows[space].tolist()])
        return [new_ids[row] for row in kept]

    def add_vectors(self, space, vectors, ids=None, metadata=None):
        """Adds unit-normalised `vectors` (N, D) to `space` under `ids` (new ids when None).

        Args:
          metadata: optional list of N dicts for items not yet in the index.
        Returns:
          int64 (N,) ids.
        """
        if not isinstance(space, str) or not space:
            raise ValueError(f"`space` must be a non-empty string, got {space!r}")
        dim = self._vectors[space].shape[1] if space in self._vectors else np.shape(vectors)[-1]
        vectors = backends_lib.normalize(backends_lib.check_vectors(vectors, dim))
        if ids is None:
            ids = np.arange(self._next_id, self._next_id + len(vectors), dtype=np.int64)
            self._next_id += len(vectors)
        ids = np.asarray(ids, np.int64).reshape(-1)
        if len(ids) != len(vectors):
            raise ValueError(f"`ids` must have {len(vectors)} entries, got {len(ids)}")
        for n, item in enumerate(ids.tolist()):
            if item not in self.records:
                extra = metadata[n] if metadata is not None else {}
                self.records[item] = {"id": item, "path": None, "media": "vector", **extra}
        self._next_id = max(self._next_id, int(ids.max()) + 1 if len(ids) else 0)
        if space in self._vectors:
            self._vectors[space] = np.concatenate([self._vectors[space], vectors])
            self._ids[space] = np.concatenate([self._ids[space], ids])
        else:
            self._vectors[space], self._ids[space] = vectors, ids
        if space in self._backends:
            self._backends[space].add(vectors, ids)
            self._share_vectors(space)
        self.default_space = self.default_space or space
        return ids

    def remove(self, ids):
        """Deletes items (all their spaces and metadata); unknown ids are ignored."""
        ids = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids, np.int64).reshape(-1)
        for space in self.spaces:
            keep = ~np.isin(self._ids[space], ids)
            self._vectors[space], self._ids[space] = self._vectors[space][keep], self._ids[space][keep]
            if space in self._backends:
                self._backends[space].remove(ids)
                self._share_vectors(space)
        for item in ids.tolist():
            self.records.pop(item, None)

    # --------------------------------------------------------------- search
    def _check_space(self, space):
        space = space or self.default_space
        if space not in self._vectors:
            raise ValueError(f"`space` must be one of {self.spaces}, got {space!r}")
        return space

    def _share_vectors(self, space):
        """Points a re-ranking backend (faiss IVF-PQ) at the current vectors of `space`."""
        backend = self._backends[space]
        if getattr(backend, "rerank_vectors", None) is not None:
            backend.rerank_vectors = (self._vectors[space], self._ids[space])

    def backend(self, space):
        """The backend of `space`, built from the stored vectors on first use."""
        space = self._check_space(space)
        if space not in self._backends:
            options = dict(self.backend_options)
            if self.backend_name == "milvus":
                options.setdefault("collection", f"sslzoo_{space}")
            if self.backend_name == "faiss":
                options["rerank_vectors"] = (self._vectors[space], self._ids[space])
            backend = backends_lib.make_backend(self.backend_name, self.dim(space), **options)
            backend.load(None, self._vectors[space], self._ids[space])
            self._backends[space] = backend
        return self._backends[space]

    def embed_query(self, query, modality=None, space=None):
        """(space, float32 (1, D)) for a query; see `search` for the accepted kinds."""
        modality, value = _query_modality(query, modality)
        if modality == "vector":
            return self._check_space(space), np.asarray(value, np.float32).reshape(1, -1)
        encoder = self.encoder
        choices = [s for s in encoder.spaces(modality) if s in self._vectors]
        if space is None:
            space = self.default_space if self.default_space in choices else (choices[0] if choices else None)
        if space not in choices:
            raise ValueError(f"`space` {space!r} is not shared by the {modality} encoder "
                             f"{encoder.spaces(modality)} and this index {self.spaces}")
        if modality == "image" and isinstance(value, (str, os.PathLike)):
            value = media_lib.read_image(os.fspath(value))
        elif modality == "audio" and isinstance(value, (str, os.PathLike)):
            value = media_lib.read_audio(os.fspath(value), encoder.sample_rate)
        elif modality == "video" and isinstance(value, (str, os.PathLike)):
            clips = media_lib.video_clips(os.fspath(value), None, encoder.frames)
            value = clips[0][2]
            if "video" not in encoder.modalities:
                modality, value = "image", (value[len(value) // 2] * 255).round().astype(np.uint8)
        batch = [value] if modality in ("text", "image") else np.asarray(value)[None]
        return space, encoder.embed(modality, batch)[space]

    def search(self, query, k=10, space=None, modality=None):
        """Top-k items for one query.

        Args:
          query: a string (text); a `pathlib.Path` to an image/audio/video file; a uint8
            image (H, W, C); a float video (T, H, W, 3); a float waveform (samples,);
            or a vector (D,). `modality` ("text", "image", "audio", "video", "vector")
            overrides the guess (a 1-D float array of width D is a vector, else audio).
          k: number of results.
          space: joint space to search (default: the index's, if the modality has it).
        Returns:
          list of dicts: metadata of each hit plus "score" (cosine similarity), best first.
        """
        k = backends_lib.check_k(k)
        if modality is None and isinstance(query, np.ndarray) and query.ndim == 1 and query.dtype.kind == "f":
            target = self._check_space(space)
            modality = "vector" if query.shape[0] == self.dim(target) else "audio"
        space, vector = self.embed_query(query, modality, space)
        if vector.shape[1] != self.dim(space):
            raise ValueError(f"`query` vector must have {self.dim(space)} dimensions, got {vector.shape[1]}")
        scores, ids = self.backend(space).search(backends_lib.normalize(vector), k)
        return [{**self.records[int(i)], "score": float(s), "space": space}
                for s, i in zip(scores[0], ids[0]) if i >= 0 and int(i) in self.records]

    # ---------------------------------------------------------------- files
    def save(self, path):
        """Writes the index folder atomically (a crash leaves the previous one intact)."""
        path = os.path.abspath(os.fspath(path))
        parent = os.path.dirname(path)
        os.makedirs(parent, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=".sslzoo_index_", dir=parent)
        try:
            spaces = {}
            for space in self.spaces:
                np.save(os.path.join(staging, f"{space}.vectors.npy"), self._vectors[space], allow_pickle=False)
                np.save(os.path.join(staging, f"{space}.ids.npy"), self._ids[space], allow_pickle=False)
                info = {"dim": int(self.dim(space)), "count": int(len(self._ids[space]))}
                if space in self._backends:
                    backend = self._backends[space]
                    info["backend"] = backend.describe()
                    if backend.native_suffix:
                        backend.save(os.path.join(staging, space + backend.native_suffix))
                spaces[space] = info
            with open(os.path.join(staging, METADATA), "w", encoding="utf-8") as f:
                for item in sorted(self.records):
                    f.write(json.dumps(self.records[item], sort_keys=True) + "\n")
            manifest = {"format": FORMAT, "encoder": {"path": self.encoder_path, "fingerprint": self.fingerprint},
                        "backend": self.backend_name, "backend_options": _jsonable(self.backend_options),
                        "default_space": self.default_space, "spaces": spaces, "next_id": self._next_id,
                        "roots": self.roots, "skipped": [list(s) for s in self.skipped]}
            with open(os.path.join(staging, MANIFEST), "w", encoding="utf-8") as f:
                json.dump(manifest, f, indent=2)
            old = None
            if os.path.exists(path):
                old = path + ".old"
                shutil.rmtree(old, ignore_errors=True)
                os.replace(path, old)
            os.replace(staging, path)
            if old:
                shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return path

    @classmethod
    def load(cls, path, encoder=None, backend=None, backend_options=None):
        """Reads an index folder written by `save`.

        Args:
          encoder: an `Encoder` or export folder to query with; its fingerprint must match
            the stored one (EncoderMismatchError otherwise). None: the stored path, on demand.
          backend, backend_options: override the stored backend choice.
        """
        path = os.path.abspath(os.fspath(path))
        manifest_path = os.path.join(path, MANIFEST)
        if not os.path.isfile(manifest_path):
            raise ValueError(f"`index` {path!r} is not an index folder (no {MANIFEST})")
        with open(manifest_path, encoding="utf-8") as f:
            manifest = json.load(f)
        if manifest.get("format") != FORMAT:
            raise ValueError(f"`index` {path!r} has format {manifest.get('format')!r}, expected {FORMAT!r}")
        index = cls(backend=backend or manifest["backend"],
                    backend_options=backend_options if backend_options is not None else manifest["backend_options"],
                    space=manifest.get("default_space"))
        index.encoder_path = manifest["encoder"]["path"]
        index.fingerprint = manifest["encoder"]["fingerprint"]
        index.roots, index._next_id = list(manifest.get("roots", [])), int(manifest["next_id"])
        index.skipped = [tuple(s) for s in manifest.get("skipped", [])]
        with open(os.path.join(path, METADATA), encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    record = json.loads(line)
                    index.records[int(record["id"])] = record
        for space, info in manifest["spaces"].items():
            # Memory-mapped: pages are read on demand (IVF-PQ re-ranking reads only candidates).
            vectors = np.load(os.path.join(path, f"{space}.vectors.npy"), mmap_mode="r", allow_pickle=False)
            ids = np.load(os.path.join(path, f"{space}.ids.npy"), allow_pickle=False)
            if vectors.shape != (info["count"], info["dim"]) or ids.shape != (info["count"],):
                raise ValueError(f"`index` {path!r}: space {space!r} files do not match the manifest")
            if vectors.dtype != np.float32:
                raise ValueError(f"`index` {path!r}: {space}.vectors.npy must be float32, got {vectors.dtype}")
            index._vectors[space], index._ids[space] = vectors, ids.astype(np.int64)
            stored = info.get("backend", {})
            if index.backend_name == "faiss" and stored.get("backend") == "faiss" and backend_options is None:
                options = {**index.backend_options, "factory": stored.get("factory"),
                           "search_params": stored.get("search_params"),
                           "rerank_vectors": (index._vectors[space], index._ids[space])}
                faiss_backend = backends_lib.make_backend("faiss", info["dim"], **options)
                faiss_backend.load(os.path.join(path, f"{space}.faiss"), index._vectors[space], ids)
                index._backends[space] = faiss_backend
        if encoder is not None:
            index.set_encoder(encoder)
        return index


def _jsonable(options):
    return {key: (str(value) if isinstance(value, pathlib.PurePath) else value) for key, value in options.items()}


def _query_modality(query, modality):
    """(modality, value) for a query; ValueError when it cannot be told."""
    kinds = ("text", "image", "audio", "video", "vector")
    if modality is not None and modality not in kinds:
        raise ValueError(f"`modality` must be one of {kinds}, got {modality!r}")
    if modality:
        return modality, query
    if isinstance(query, str):
        return "text", query
    if isinstance(query, pathlib.PurePath):
        kind = media_lib.media_type(query)
        if kind not in ("image", "audio", "video"):
            raise ValueError(f"`query` file {os.fspath(query)!r} is not an image, audio or video file")
        return kind, query
    array = np.asarray(query)
    if array.dtype == np.uint8 and array.ndim in (2, 3):
        return "image", array if array.ndim == 3 else array[..., None]
    if array.ndim == 4:
        return "video", array
    if array.ndim == 1 and array.dtype.kind == "f":
        return "audio", array
    raise ValueError(f"`query` must be text, a file path, an image, a video, a waveform or a vector; "
                     f"got {type(query).__name__} with shape {array.shape}")
