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

Extension point: a new modality subclasses `InputAdapter`, implements `matches`
(does this encoder take my kind of input?) and the members above, and registers
itself with `register_adapter("text", TextAdapter)`. `export.save` then finds it by
`adapter_for(encoder)` (or by `modality="text"`); nothing else in `sslzoo.export`
changes. A text adapter, for instance, has `raw_spec = TensorSpec([None], tf.string)`
and `preprocess = tokenizer layer` (strings (B,) -> token ids (B, L)).
"""
import tensorflow as tf

from sslzoo.preprocessing import eval_images

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


def adapter_for(encoder, modality=None):
    """The `InputAdapter` instance for `encoder`.

    Args:
      encoder: a built `keras.Model` with one input.
      modality: a registered modality name; None picks the first adapter that matches.
    Raises:
      ValueError: unknown modality, or no registered adapter accepts the encoder's input.
    """
    if modality is not None:
        if modality not in _ADAPTERS:
            raise ValueError(
                f"`modality` must be one of {registered_modalities()}, got {modality!r}"
            )
        return _ADAPTERS[modality](encoder)
    shape = encoder_input_shape(encoder)
    for adapter_class in _ADAPTERS.values():
        if adapter_class.matches(encoder):
            return adapter_class(encoder)
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

    def describe(self):
        """{"raw": ..., "model": ..., "preprocessing": ...} for the model card."""
        raise NotImplementedError


class ImageAdapter(InputAdapter):
    """uint8 images (B, H, W, 3), any H, W -> float32 (B, S, S, 3) in [0, 1] by `eval_images`."""

    modality = "image"

    def __init__(self, encoder):
        super().__init__(encoder)
        if not self.matches(encoder):
            raise ValueError(
                f"`model` must take square (B, S, S, 3) images, got input shape {self.input_shape}"
            )
        self.image_size = int(self.input_shape[1])

    @classmethod
    def matches(cls, encoder):
        shape = encoder_input_shape(encoder)
        return len(shape) == 4 and shape[3] == 3 and shape[1] is not None and shape[1] == shape[2]

    @property
    def raw_spec(self):
        return tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")

    @property
    def fixed_spec(self):
        size = self.image_size
        return tf.TensorSpec([None, size, size, 3], tf.uint8, name="images")

    @property
    def model_spec(self):
        size = self.image_size
        return tf.TensorSpec([None, size, size, 3], tf.float32, name="images")

    def preprocess(self, raw):
        return eval_images(raw, self.image_size)

    def describe(self):
        size = self.image_size
        return {
            "raw": "uint8 images [batch, height, width, 3], any height and width, 0..255",
            "model": f"float32 images [batch, {size}, {size}, 3] in [0, 1]",
            "preprocessing": (
                f"sslzoo.preprocessing.eval_images: scale to [0, 1], bilinear antialiased "
                f"resize to {size}x{size} (inside the graph)"
            ),
        }


register_adapter("image", ImageAdapter)
