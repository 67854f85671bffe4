"""Loads an sslzoo export as a set of per-modality embedding functions, with its fingerprint.

Contract of a multi-encoder export (one SavedModel, one signature per modality):

| signature | input (name, dtype, shape)                    | outputs                          |
|-----------|-----------------------------------------------|----------------------------------|
| `image`   | `image` uint8 (B, H, W, C), any H, W          | `features` + one entry per space |
| `text`    | `text` tf.string (B,)                         | `features` + one entry per space |
| `video`   | `video` float32 (B, T, H, W, 3) in [0, 1]      | `features` + one entry per space |
| `audio`   | `audio` float32 (B, samples)                  | `features` + one entry per space |

Each space entry (CLIP: `joint`; MMV: `va`, `vat`) is an L2-normalised (B, D)
embedding; two modalities can be compared in a space both of them output. A
signature with `features` only (a single encoder without a joint space) is
searched in the space "features" (same-modality search).
A single-image export (`sslzoo.export.save` on an image objective) has only
`serving_default` (`images` uint8 (B, H, W, 3) -> `embedding`, `projection`): it is
read as modality "image" with spaces "embedding" and "projection".

Embedding under a `tf.distribute` strategy (`Encoder(path, strategy=...)`, `sslzoo-index build
--strategy=mirrored`): the SavedModel is loaded in the strategy's scope and each batch is cut
into one equal shard per replica (the last shard padded by repeating its final row, the padding
dropped from the result), embedded with `strategy.run` and concatenated in replica order, so
a large corpus is embedded on all of a machine's accelerators. A row's embedding does not
depend on the others in its batch (the exports run BatchNorm in inference mode).

The fingerprint is the SHA-256 of `saved_model.pb` and every file under
`variables/` (names and bytes), so any change of graph or weights changes it.
"""
import hashlib
import json
import os

import numpy as np

MODALITIES = ("image", "text", "video", "audio")
FALLBACK = "serving_default"
DEFAULT_FRAMES = 8
DEFAULT_SAMPLE_RATE = 48_000
DEFAULT_FPS = 10


def fingerprint(path):
    """SHA-256 hex digest of an export's saved_model.pb and variables/ (names and bytes)."""
    path = os.fspath(path)
    graph = os.path.join(path, "saved_model.pb")
    if not os.path.isfile(graph):
        raise ValueError(f"`encoder` {path!r} is not a SavedModel folder (no saved_model.pb)")
    digest = hashlib.sha256()
    files = [graph]
    variables = os.path.join(path, "variables")
    for root, _, names in os.walk(variables):
        files.extend(os.path.join(root, name) for name in names)
    for file in sorted(files[:1]) + sorted(files[1:]):
        digest.update(os.path.relpath(file, path).replace(os.sep, "/").encode() + b"\0")
        with open(file, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def _card(path):
    card = os.path.join(path, "model_card.json")
    if os.path.isfile(card):
        with open(card, encoding="utf-8") as f:
            try:
                return json.load(f)
            except ValueError:
                return {}
    return {}


class _Signature:
    """One modality's concrete function, its input name/spec and its space names."""

    def __init__(self, function, modality):
        _, kwargs = function.structured_input_signature
        if len(kwargs) != 1:
            raise ValueError(f"`encoder` signature for {modality!r} must take one input, got {sorted(kwargs)}")
        (self.input_name, self.spec), = kwargs.items()
        self.function = function
        outputs = function.structured_outputs
        if modality == "image" and "embedding" in outputs and "features" not in outputs:
            self.spaces = tuple(name for name in ("embedding", "projection") if name in outputs)
        else:
            self.spaces = tuple(sorted(name for name in outputs if name != "features"))
            if not self.spaces and "features" in outputs:
                self.spaces = ("features",)  # a single encoder without joint spaces: search its features
        if not self.spaces:
            raise ValueError(f"`encoder` signature for {modality!r} has no embedding outputs: {sorted(outputs)}")


class Encoder:
    """An exported encoder: `embed(modality, inputs)` -> {space: unit vectors (B, D)}.

    Args:
      path: the export folder (SavedModel with the signatures above).
      strategy: a `tf.distribute.Strategy` whose replicas share each batch (one machine's:
        MirroredStrategy, TPUStrategy, or a one-worker MultiWorkerMirroredStrategy), or None.
    Attributes:
      path, fingerprint, modalities (tuple), sample_rate (audio Hz), fps (video frames/s),
      frames (frames per video clip), strategy.
    """

    def __init__(self, path, strategy=None):
        import contextlib

        from sslzoo.export.saved_model import load_saved_model

        self.path = os.path.abspath(os.fspath(path))
        self.fingerprint = fingerprint(self.path)
        self.strategy = _check_strategy(strategy)
        self._replica_calls = {}  # _Signature -> tf.function running it on every replica
        with strategy.scope() if strategy is not None else contextlib.nullcontext():
            loaded = load_saved_model(self.path)
        self._loaded = loaded  # keeps the variables alive
        signatures = loaded.signatures
        self._signatures = {m: _Signature(signatures[m], m) for m in MODALITIES if m in signatures}
        if not self._signatures and FALLBACK in signatures:
            self._signatures["image"] = _Signature(signatures[FALLBACK], "image")
        if not self._signatures:
            raise ValueError(f"`encoder` {self.path!r} has none of the signatures {MODALITIES + (FALLBACK,)}; "
                             f"found {sorted(signatures)}")
        card = _card(self.path)
        self.sample_rate = int(card.get("audio_sample_rate", card.get("sample_rate", DEFAULT_SAMPLE_RATE)))
        self.fps = float(card.get("video_fps", DEFAULT_FPS))
        frames = self._signatures["video"].spec.shape.as_list()[1] if "video" in self._signatures else None
        self.frames = int(frames or card.get("video_frames", DEFAULT_FRAMES))

    @property
    def modalities(self):
        return tuple(self._signatures)

    def spaces(self, modality=None):
        """Space names a modality outputs (all modalities' when None), in order."""
        if modality is None:
            names = []
            for signature in self._signatures.values():
                names.extend(s for s in signature.spaces if s not in names)
            return tuple(names)
        return self._signature(modality).spaces

    def _signature(self, modality):
        if modality not in self._signatures:
            raise ValueError(f"`modality` must be one of {self.modalities} for encoder {self.path!r}, "
                             f"got {modality!r}")
        return self._signatures[modality]

    def embed(self, modality, inputs):
        """Embeds a batch of one modality.

        Args:
          modality: "image", "text", "video" or "audio".
          inputs: image: uint8 (B, H, W, C) (or a list of (H, W, C) arrays of any sizes);
            text: list of B strings; video: float32 (B, T, H, W, 3) in [0, 1];
            audio: float32 (B, samples) at `sample_rate`.
        Returns:
          {space: float32 (B, D) unit rows} for every space the modality outputs.
        """
        signature = self._signature(modality)
        if modality == "image" and isinstance(inputs, (list, tuple)):
            return self._embed_image_list(signature, inputs)
        batch = self._prepare(modality, signature, inputs)
        if self.strategy is None or self.strategy.num_replicas_in_sync == 1:
            outputs = signature.function(**{signature.input_name: batch})
            return {space: _unit(outputs[space].numpy()) for space in signature.spaces}
        return self._embed_distributed(signature, batch)

    def _embed_distributed(self, signature, batch):
        """One shard of `batch` per replica through `strategy.run`; rows back in input order."""
        import tensorflow as tf

        replicas = self.strategy.num_replicas_in_sync
        rows = int(batch.shape[0])
        per_replica = -(-rows // replicas)
        padded = tf.concat([batch, tf.repeat(batch[-1:], per_replica * replicas - rows, axis=0)], axis=0)
        shards = [padded[i * per_replica:(i + 1) * per_replica] for i in range(replicas)]
        values = self.strategy.experimental_distribute_values_from_function(
            lambda context: shards[context.replica_id_in_sync_group])
        if signature not in self._replica_calls:  # a tf.function: TPUStrategy.run needs one
            self._replica_calls[signature] = tf.function(lambda per_replica: self.strategy.run(
                lambda shard: signature.function(**{signature.input_name: shard}), args=(per_replica,)))
        outputs = self._replica_calls[signature](values)
        result = {}
        for space in signature.spaces:
            parts = self.strategy.experimental_local_results(outputs[space])
            result[space] = _unit(np.concatenate([part.numpy() for part in parts])[:rows])
        return result

    def _embed_image_list(self, signature, images):
        groups = {}
        for row, image in enumerate(images):
            image = _image_channels(np.asarray(image), signature.spec)
            groups.setdefault(image.shape, []).append((row, image))
        result = {}
        for members in groups.values():
            rows = [row for row, _ in members]
            embedded = self.embed("image", np.stack([image for _, image in members]))
            for space, vectors in embedded.items():
                target = result.setdefault(space, np.zeros((len(images), vectors.shape[1]), np.float32))
                target[rows] = vectors
        return result

    def _prepare(self, modality, signature, inputs):
        import tensorflow as tf

        if modality == "text":
            if isinstance(inputs, str):
                inputs = [inputs]
            return tf.constant([str(t) for t in inputs], tf.string)
        array = np.asarray(inputs)
        if modality == "image":
            if array.ndim == 3:
                array = array[None]
            if array.ndim != 4:
                raise ValueError(f"`inputs` for image must be (B, H, W, C), got shape {array.shape}")
            array = np.stack([_image_channels(a, signature.spec) for a in array])
            if array.dtype != np.uint8:
                array = np.clip(array * (255.0 if array.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
            return tf.constant(array)
        if modality == "video":
            if array.ndim != 5 or array.shape[-1] != 3:
                raise ValueError(f"`inputs` for video must be (B, T, H, W, 3), got shape {array.shape}")
            dims = signature.spec.shape.as_list()
            video = tf.constant(array.astype(np.float32))
            if dims[2] and dims[3] and (dims[2], dims[3]) != array.shape[2:4]:
                flat = tf.reshape(video, (-1,) + array.shape[2:])
                flat = tf.image.resize(flat, (dims[2], dims[3]), antialias=True)
                video = tf.reshape(flat, array.shape[:2] + (dims[2], dims[3], 3))
            return video
        if array.ndim == 1:
            array = array[None]
        if array.ndim != 2:
            raise ValueError(f"`inputs` for audio must be (B, samples), got shape {array.shape}")
        length = signature.spec.shape.as_list()[1]
        if length:
            array = fit_length(array, length)
        return tf.constant(array.astype(np.float32))


def fit_length(waveforms, length):
    """(B, S) -> (B, length): crops the centre or pads zeros at the end."""
    if waveforms.shape[1] >= length:
        start = (waveforms.shape[1] - length) // 2
        return waveforms[:, start:start + length]
    return np.pad(waveforms, ((0, 0), (0, length - waveforms.shape[1])))


def _image_channels(image, spec):
    """(H, W, C) with C made to match the signature (gray -> RGB, RGBA -> RGB)."""
    if image.ndim == 2:
        image = image[..., None]
    want = spec.shape.as_list()[-1] or 3
    if image.shape[-1] == want:
        return image
    if image.shape[-1] == 1:
        return np.repeat(image, want, axis=-1)
    if image.shape[-1] == 4 and want == 3:
        return image[..., :3]
    if want == 1:
        return image[..., :3].mean(axis=-1, keepdims=True).astype(image.dtype)
    raise ValueError(f"`inputs` images must have 1, 3 or 4 channels, got {image.shape[-1]}")


def _check_strategy(strategy):
    if strategy is None:
        return None
    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.Strategy):
        raise ValueError(f"`strategy` must be a tf.distribute.Strategy or None, got {type(strategy).__name__}")
    resolver = getattr(strategy, "cluster_resolver", None)
    workers = len(resolver.cluster_spec().as_dict().get("worker", [])) if resolver is not None else 0
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and workers > 1:
        raise ValueError(f"`strategy` spans {workers} workers: embedding runs on one machine's replicas; "
                         "run one build per machine, each on its part of the media")
    return strategy


def _unit(vectors):
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)


def load_encoder(path, strategy=None):
    """`Encoder(path, strategy)`; ValueError when `path` is not an sslzoo export."""
    if not os.path.isdir(os.fspath(path)):
        raise ValueError(f"`encoder` must be an export folder, got {os.fspath(path)!r}")
    return Encoder(path, strategy=strategy)
