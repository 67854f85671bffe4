"""`load_encoder`: a Keras 3 layer around an exported TF Hub module, fine-tunable with Adam.

Keras 3's `TFSMLayer(trainable=True)` cannot be fine-tuned with Adam: it wraps the
restored variables under their TensorFlow names ("conv/kernel:0"), and the
optimizer's slot-variable names built from those ("conv_kernel:0_momentum") are
rejected as scope names. `RestoredEncoder` wraps the *same* restored `tf.Variable`s
as `keras.Variable`s (Keras 3's TensorFlow backend adopts a `tf.Variable` given as
initializer, so no copy is made) under sanitised names; the restored `__call__`
reads those variables, gradients flow to them and any Keras optimizer updates them.
"""
import re

import keras

from sslzoo.export.saved_model import load_saved_model


def _keras_name(tf_name):
    """"block/conv/kernel:0" -> "block_conv_kernel" (a valid Keras variable name)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", tf_name.split(":")[0])


@keras.saving.register_keras_serializable(package="sslzoo")
class RestoredEncoder(keras.layers.Layer):
    """An exported encoder (format="hub") as a trainable Keras 3 layer.

    Call: images, the encoder's input (float32 (B, S, S, 3) in [0, 1] for images) ->
    h (B, F). `training=True` on a trainable layer runs batch normalisation in
    training mode and adds the module's weight-regularisation losses to `losses`;
    a frozen layer (trainable=False) always runs in inference mode.

    Args:
      path: folder written by `sslzoo.export.save(..., format="hub")`.
      trainable: whether fine-tuning updates the encoder's weights.
      modality: for an export of several encoders (`sslzoo.export.multimodal`), the
        one to load ("image", "text", "video", "audio"); its call takes that encoder's
        own input (e.g. token ids (B, L) for text, clips (B, T, H, W, 3) for video).
    """

    def __init__(self, path, trainable=True, modality=None, **kwargs):
        super().__init__(**kwargs)  # trainable until the variables exist, see below
        self.export_path = str(path)
        self.modality = modality
        self._root = load_saved_model(self.export_path)  # keeps every restored object alive
        restored = _select_modality(self._root, self.export_path, modality)
        missing = [
            name for name in ("__call__", "variables", "trainable_variables")
            if not hasattr(restored, name)
        ]
        if missing:
            raise ValueError(
                f"`path` {self.export_path!r} is not a Reusable SavedModel (missing {missing}); "
                "export it with sslzoo.export.save(..., format='hub')"
            )
        self._restored = restored
        self._call_fn = restored.__call__
        trainable_refs = {v.ref() for v in restored.trainable_variables}
        self._restored_weights = [
            keras.Variable(
                initializer=variable,
                shape=variable.shape,
                dtype=variable.dtype.name,
                trainable=variable.ref() in trainable_refs,
                name=_keras_name(variable.name),
            )
            for variable in restored.variables
        ]
        # Set last: the setter marks the tracked variables (Keras skips it when unchanged).
        self.trainable = trainable
        self.built = True

    def call(self, inputs, training=None):
        # A frozen encoder runs in inference mode (batch-norm statistics stay put).
        training = bool(training) and self.trainable
        if training:
            for regularization_loss in self._restored.regularization_losses:
                self.add_loss(regularization_loss())
        return self._call_fn(inputs, training=training)

    def compute_output_shape(self, input_shape):
        output = self._call_fn.concrete_functions[0].structured_outputs
        return (input_shape[0],) + tuple(output.shape[1:])

    def get_config(self):
        return {**super().get_config(), "path": self.export_path, "modality": self.modality}


def _select_modality(root, path, modality):
    """The restored object whose Reusable API to wrap: the root, or `root.encoders[modality]`."""
    encoders = getattr(root, "encoders", None)
    names = tuple(sorted(encoders.keys())) if encoders is not None else ()
    if modality is None:
        if names:
            raise ValueError(f"`modality` must name one of {names}: {path!r} holds several encoders")
        return root
    if modality not in names:
        raise ValueError(f"`modality` must be one of {names or ('None',)} for {path!r}, got {modality!r}")
    return encoders[modality]


def load_encoder(path, trainable=True, name=None, modality=None):
    """Loads an exported encoder (format="hub") as a Keras 3 layer.

    Example:
      encoder = sslzoo.export.load_encoder("exports/simclr_hub", trainable=True)
      classifier = keras.Sequential([keras.Input((32, 32, 3)), encoder, keras.layers.Dense(10)])
      classifier.compile(keras.optimizers.Adam(1e-3), ...)

    Args:
      path: the export folder.
      trainable: fine-tune the encoder's weights (False: a frozen feature extractor).
      name: layer name.
      modality: which encoder of a multi-encoder export (e.g. "text" of CLIP, "video" of MMV).
    Returns:
      `RestoredEncoder`: the encoder's input (images (B, S, S, 3) float32 in [0, 1] for
      an image encoder) -> h (B, F).
    """
    return RestoredEncoder(path, trainable=trainable, name=name, modality=modality)
