"""Input adapters: the raw input a user serves, and how it becomes the encoder's input.

An exported encoder takes *raw* data (uint8 images of any size, later raw strings or
waveforms) and runs the evaluation-time preprocessing inside the graph, so every
export answers exactly like the trained model on `sslzoo.preprocessing` output.
What differs between modalities is captured by one small object, an `InputAdapter`:

- `raw_spec`:   the `tf.TensorSpec` of the raw serving input (`serving_default`);
- `model_spec`: the `tf.TensorSpec` of the encoder's own input (the float signature,
                the Hub `__call__`, TFLite);
- `preprocess(raw)`: the in-graph map from the first to the second;
- `fixed_spec`: a raw spec of static shape, for formats without dynamic resizing
                (TFLite), and `describe()` for the model card.

Every adapter also serves its modality under the modality's own name (the
signature `image`, `text`, `video` or `audio` of an export, input named like the
modality): `signature_spec` and `preprocess_signature` default to `raw_spec`
renamed and `preprocess`; the image adapter widens them to any channel count.

Extension point: a new modality subclasses `InputAdapter`, implements `matches`
(does this encoder take my kind of input?) and the members above, and registers
itself with `register_adapter("text", TextAdapter)`. `export.save` then finds it by
`adapter_for(encoder)` (or by `modality="text"`); nothing else in `sslzoo.export`
changes. A text adapter, for instance, has `raw_spec = TensorSpec([None], tf.string)`
and `preprocess = tokenizer layer` (strings (B,) -> token ids (B, L)).
"""
import tensorflow as tf

from sslzoo.preprocessing import eval_images, to_unit_float

_ADAPTERS = {}


def register_adapter(modality, adapter_class):
    """Registers `adapter_class` (an `InputAdapter` subclass) under `modality`."""
    if not (isinstance(adapter_class, type) and issubclass(adapter_class, InputAdapter)):
        raise ValueError(f"`adapter_class` must subclass InputAdapter, got {adapter_class!r}")
    _ADAPTERS[modality] = adapter_class
    return adapter_class


def unregister_adapter(modality):
    """Removes the adapter registered under `modality` (ValueError if there is none)."""
    if modality not in _ADAPTERS:
        raise ValueError(f"`modality` {modality!r} is not registered; registered: {tuple(_ADAPTERS)}")
    del _ADAPTERS[modality]


def registered_modalities():
    """Names of the registered modalities, in registration order."""
    return tuple(_ADAPTERS)


def encoder_input_shape(encoder):
    """The encoder's input shape (None, ...) or ValueError if it is not built."""
    if not getattr(encoder, "built", False):
        raise ValueError(
            f"`model` {getattr(encoder, 'name', encoder)!r} is not built: call it on a batch "
            "or give it a keras.Input before exporting."
        )
    try:
        shape = encoder.input_shape
    except (AttributeError, ValueError) as error:
        raise ValueError(
            f"`model` {encoder.name!r} has no defined input shape; build it from keras.Input "
            "(a functional model) before exporting."
        ) from error
    if isinstance(shape, list):
        raise ValueError(f"`model` must have one input, got input shapes {shape}")
    return tuple(shape)


def adapter_for(encoder, modality=None, **options):
    """The `InputAdapter` instance for `encoder`.

    Args:
      encoder: a built `keras.Model` with one input.
      modality: a registered modality name; None picks the first adapter that matches.
      **options: passed to the adapter's constructor (e.g. `tokenizer=` for text).
    Raises:
      ValueError: unknown modality, or no registered adapter accepts the encoder's input.
    """
    if modality is not None:
        if modality not in _ADAPTERS:
            raise ValueError(
                f"`modality` must be one of {registered_modalities()}, got {modality!r}"
            )
        return _ADAPTERS[modality](encoder, **options)
    shape = encoder_input_shape(encoder)
    for adapter_class in _ADAPTERS.values():
        if adapter_class.matches(encoder):
            return adapter_class(encoder, **options)
    raise ValueError(
        f"no input adapter accepts `model` input shape {shape}; registered modalities: "
        f"{registered_modalities()}"
    )


class InputAdapter:
    """Base class: raw serving input -> encoder input. See the module docstring."""

    modality = None

    def __init__(self, encoder):
        self.encoder = encoder
        self.input_shape = encoder_input_shape(encoder)

    @classmethod
    def matches(cls, encoder):
        raise NotImplementedError

    @property
    def raw_spec(self):
        raise NotImplementedError

    @property
    def fixed_spec(self):
        raise NotImplementedError

    @property
    def model_spec(self):
        raise NotImplementedError

    def preprocess(self, raw):
        raise NotImplementedError

    @property
    def signature_spec(self):
        """The input of the modality-named signature: `raw_spec` named like the modality."""
        spec = self.raw_spec
        return tf.TensorSpec(spec.shape, spec.dtype, name=self.modality or spec.name)

    def preprocess_signature(self, raw):
        """`signature_spec` input -> `model_spec` input (default: `preprocess`)."""
        return self.preprocess(raw)

    def describe(self):
        """{"raw": ..., "model": ..., "preprocessing": ...} for the model card."""
        raise NotImplementedError


def resize_like_eval_images(images, image_size):
    """`sslzoo.preprocessing.eval_images` for any channel count C: (B, H, W, C) -> (B, S, S, C).

    Three channels go through `eval_images` itself; other counts through the same
    ops (scale to [0, 1], bilinear antialiased resize unless the static size is
    already S x S, clip), which act on each channel alone, so the result equals
    `eval_images` channel by channel.
    """
    if images.shape[-1] == 3:
        return eval_images(images, image_size)
    images = to_unit_float(images)
    size = (int(image_size), int(image_size))
    if tuple(images.shape[1:3]) != size:
        images = tf.image.resize(images, size, method="bilinear", antialias=True)
    return tf.clip_by_value(images, 0.0, 1.0)


def match_channels(images, channels):
    """(B, H, W, c) with c known only at run time -> (B, H, W, `channels`), static.

    c == channels passes; c == 1 is repeated (gray -> RGB, as `eval_images` does);
    RGB (c == 3, or RGBA c == 4 whose alpha is dropped) into a 1-channel encoder is
    `tf.image.rgb_to_grayscale` (ITU-R 601 luma), into a 3-channel one its first
    three channels. Any other count fails at run time (InvalidArgumentError naming it).
    """
    have = tf.shape(images)[-1]
    accepted = sorted({1, channels} | ({3, 4} if channels in (1, 3) else set()))
    check = tf.debugging.Assert(tf.reduce_any(tf.equal(have, accepted)),
                                [f"`image` must have one of {accepted} channels for a {channels}-channel "
                                 "encoder, got", have])
    with tf.control_dependencies([check]):
        if channels == 1:
            converted = tf.cond(tf.equal(have, 1), lambda: images[..., :1],
                                lambda: tf.image.rgb_to_grayscale(images[..., :3]))
        else:
            converted = tf.cond(tf.logical_and(tf.equal(have, 1), channels != 1),
                                lambda: tf.repeat(images[..., :1], channels, axis=-1),
                                lambda: images[..., :channels])
    return tf.ensure_shape(converted, [None, None, None, channels])


class ImageAdapter(InputAdapter):
    """uint8 images (B, H, W, C), any H, W -> float32 (B, S, S, C) in [0, 1] as `eval_images` does.

    C is the encoder's channel count (3 for RGB, 1 for grayscale, any other count
    as is). `serving_default` takes exactly C channels; the `image` signature
    (`signature_spec`) takes 1 or 3 (or C) channels and converts them in the graph
    (`match_channels`) before the same preprocessing.
    """

    modality = "image"

    def __init__(self, encoder):
        super().__init__(encoder)
        if not self.matches(encoder):
            raise ValueError(
                f"`model` must take square (B, S, S, C) images, C known, got input shape {self.input_shape}"
            )
        self.image_size = int(self.input_shape[1])
        self.channels = int(self.input_shape[3])

    @classmethod
    def matches(cls, encoder):
        shape = encoder_input_shape(encoder)
        return (len(shape) == 4 and shape[3] is not None and shape[3] >= 1 and shape[1] is not None
                and shape[1] == shape[2])

    @property
    def raw_spec(self):
        return tf.TensorSpec([None, None, None, self.channels], tf.uint8, name="images")

    @property
    def fixed_spec(self):
        size = self.image_size
        return tf.TensorSpec([None, size, size, self.channels], tf.uint8, name="images")

    @property
    def model_spec(self):
        size = self.image_size
        return tf.TensorSpec([None, size, size, self.channels], tf.float32, name="images")

    @property
    def signature_spec(self):
        return tf.TensorSpec([None, None, None, None], tf.uint8, name="image")

    def preprocess(self, raw):
        return resize_like_eval_images(raw, self.image_size)

    def preprocess_signature(self, raw):
        # To [0, 1] floats first: rgb_to_grayscale on uint8 would round the luma to integers.
        images = match_channels(to_unit_float(raw), self.channels)
        size = self.image_size
        # Images already S x S skip the resize, as `eval_images` skips it for a static S x S
        # (the graph's height and width are dynamic, so the choice is made at run time).
        shape = tf.shape(images)
        return tf.cond(tf.logical_and(tf.equal(shape[1], size), tf.equal(shape[2], size)),
                       lambda: tf.ensure_shape(tf.clip_by_value(images, 0.0, 1.0), self.model_spec.shape),
                       lambda: tf.ensure_shape(self.preprocess(images), self.model_spec.shape))

    def describe(self):
        size, channels = self.image_size, self.channels
        kind = {1: "grayscale", 3: "RGB"}.get(channels, f"{channels}-channel")
        return {
            "raw": (f"uint8 images [batch, height, width, {channels}], any height and width, 0..255 "
                    f"(signature `image`: 1 or 3 channels, converted to {channels} in the graph)"),
            "model": f"float32 {kind} images [batch, {size}, {size}, {channels}] in [0, 1]",
            "preprocessing": (
                f"sslzoo.preprocessing.eval_images: scale to [0, 1], bilinear antialiased "
                f"resize to {size}x{size} (inside the graph)"
                + ("; RGB input to luma by tf.image.rgb_to_grayscale" if channels == 1 else
                   "; a 1-channel input is repeated")
            ),
        }


register_adapter("image", ImageAdapter)
