"""The `tf.Module`s that carry an encoder into a SavedModel, with preprocessing inside.

`ServingModule` holds the serving signatures:

- `serving_default(images)`: the adapter's raw input (for images: uint8
  [batch, height, width, 3], any size) -> preprocessing in the graph -> outputs;
- `serving_float(images)`: the encoder's own input (float32 [batch, S, S, 3] in
  [0, 1]) -> outputs;
- `serving_fixed(images)`: raw input of static size (uint8 [batch, S, S, 3]), for
  converters without dynamic resizing (TFLite).

Outputs are `{"embedding": h (batch, F)}` plus `"projection": z (batch, D)` when the
exported objective has a projection head. The batch dimension is dynamic everywhere.

- `<modality>(<modality>)` (e.g. `image(image)`): the same contract as a multi-encoder
  export (`sslzoo.export.multimodal`), so every export can be read alike: the
  adapter's `signature_spec` input (images: uint8 with 1 or 3 channels, any size),
  outputs `{"features": h}` plus one entry per embedding space of the objective
  (`model.spaces(modality)[1:]`, computed as `model.embed` computes them).

`HubModule` adds the Reusable SavedModel API of TF Hub: `__call__(images, training)`
on the encoder's input returning h, and the lists `variables`,
`trainable_variables` and `regularization_losses`.

Only variables and traced functions are tracked, never the Keras objects, so the
SavedModel holds no Python state (no pickles, no keras_metadata).
"""
import tensorflow as tf


LEGACY_SIGNATURES = ("serving_default", "serving_float", "serving_fixed")


def _tf_variables(keras_variables):
    """Keras 3 variables -> the tf.Variables they wrap (what the traced graphs capture)."""
    return [getattr(v, "value", v) for v in keras_variables]


def untracked_captures(concrete_functions, tracked):
    """The variables the traced functions read that `tracked` lacks (each once, in order)."""
    known = {v.ref() for v in tracked}
    found = []
    for function in concrete_functions:
        for variable in function.variables:
            if variable.ref() not in known:
                known.add(variable.ref())
                found.append(variable)
    return found


def modality_signature(encoder, adapter, spaces):
    """The body of the `<modality>` signature: raw input -> {"features": h, space: embedding, ...}.

    Args:
      encoder: built `keras.Model`, adapter.model_spec -> h (B, F).
      adapter: its `InputAdapter` (`preprocess_signature` runs inside the graph).
      spaces: {space name: head(features, model_inputs) -> (B, D)}, in output order.
    """
    def embed_all(raw):
        model_inputs = adapter.preprocess_signature(raw)
        features = encoder(model_inputs, training=False)
        result = {"features": features}
        for space, head in spaces.items():
            result[space] = head(features, model_inputs)
        return result

    return embed_all


class ServingModule(tf.Module):
    """Serving signatures for `encoder` (and `projector`) behind an `InputAdapter`.

    Args:
      encoder: built `keras.Model`, adapter.model_spec -> h (B, F).
      adapter: `sslzoo.export.adapters.InputAdapter` for the encoder's input.
      projector: optional Keras layer/model h (B, F) -> z (B, D).
    """

    # The Reusable SavedModel API stores these as plain attributes; shadow tf.Module's
    # computed properties so instances can assign them.
    variables = ()
    trainable_variables = ()

    def __init__(self, encoder, adapter, projector=None, spaces=None, name=None):
        super().__init__(name=name)
        spaces = dict(spaces or {})

        def outputs(model_inputs):
            embedding = encoder(model_inputs, training=False)
            result = {"embedding": embedding}
            if projector is not None:
                result["projection"] = projector(embedding, training=False)
            return result

        def from_raw(images):
            return outputs(adapter.preprocess(images))

        self.serving_default = tf.function(from_raw, input_signature=[adapter.raw_spec])
        self.serving_float = tf.function(outputs, input_signature=[adapter.model_spec])
        self.serving_fixed = tf.function(from_raw, input_signature=[adapter.fixed_spec])
        self.modality_key = adapter.modality if adapter.modality not in (None, *LEGACY_SIGNATURES) else None
        if self.modality_key is not None:
            self.modality_function = tf.function(
                modality_signature(encoder, adapter, spaces), input_signature=[adapter.signature_spec])
        concrete = [function.get_concrete_function() for function in self.signatures.values()]
        # `variables` are the encoder's (what the Hub `__call__` uses); the heads' are
        # tracked separately so the signatures that use them can be saved.
        self.variables = _tf_variables(encoder.variables)
        self.trainable_variables = _tf_variables(encoder.trainable_variables)
        self.head_variables = _tf_variables(projector.variables if projector is not None else [])
        self.space_variables = untracked_captures(concrete, self.variables + self.head_variables)

    @property
    def signatures(self):
        """{signature key: tf.function} for `tf.saved_model.save`."""
        signatures = {
            "serving_default": self.serving_default,
            "serving_float": self.serving_float,
            "serving_fixed": self.serving_fixed,
        }
        if self.modality_key is not None:
            signatures[self.modality_key] = self.modality_function
        return signatures


class HubModule(ServingModule):
    """`ServingModule` plus the TF Hub Reusable SavedModel API on the encoder's input.

    `__call__(images, training=False)`: images `adapter.model_spec` (float32
    [batch, S, S, 3] in [0, 1] for images) -> h (batch, F). With `training=True`,
    batch normalisation uses batch statistics and updates its moving averages, so
    `hub.KerasLayer(path, trainable=True)` fine-tunes the encoder.
    """

    regularization_losses = ()

    def __init__(self, encoder, adapter, projector=None, spaces=None, name=None):
        super().__init__(encoder, adapter, projector=projector, spaces=spaces, name=name)

        def call(images, training=False):
            return encoder(images, training=training)

        self.__call__ = tf.function(call)
        for training in (False, True):
            self.__call__.get_concrete_function(adapter.model_spec, training=training)
        self.regularization_losses = _regularization_losses(encoder)


def _regularization_loss(weight):
    """A zero-argument tf.function: the weight's regularisation penalty, float32 scalar."""
    return tf.function(lambda: tf.cast(weight.regularizer(weight), tf.float32), input_signature=[])


def _regularization_losses(encoder):
    """One `_regularization_loss` per regularised trainable weight of `encoder`."""
    return [
        _regularization_loss(weight)
        for weight in encoder.trainable_weights
        if getattr(weight, "regularizer", None) is not None
    ]
