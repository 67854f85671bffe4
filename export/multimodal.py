"""Per-modality export: one SavedModel with one signature per encoder of an objective.

    sslzoo.export.save(mmv, "exports/mmv")                 # signatures video, audio, text
    sslzoo.export.save(clip, "exports/clip", format="hub")  # signatures image, text + Hub API
    encoder = sslzoo.export.load_multimodal("exports/mmv")
    encoder.embed(tf.constant(["a dog barks"]), "text", space="vat")   # (1, D)

An objective with several encoders (`model.encoders`, e.g. CLIP's `{"image",
"text"}` or MMV's `{"video", "audio", "text"}`) is written as one SavedModel. Each
modality m gets the signature `m`:

| signature | input (name, dtype, shape)                         | preprocessing in the graph     |
|-----------|----------------------------------------------------|--------------------------------|
| `image`   | `image` uint8 (B, H, W, C), any H, W, C in {1, 3}  | `eval_images` (adapters.py)    |
| `text`    | `text` tf.string (B,)                              | the objective's tokenizer      |
| `video`   | `video` float32 (B, T, H, W, 3) in [0, 1], any H, W | crop + resize (av_adapters.py) |
| `audio`   | `audio` float32 (B, samples)                       | fit to the encoder's length    |

and returns `{"features": h (B, F)}` (the encoder's output) plus one (B, D) entry per
embedding space of that modality (`model.spaces(m)[1:]`: CLIP `joint`; MMV `va`,
`vat`), computed by the objective's own `project` (or `embed`), so the outputs are
`model.embed(inputs, m, space)` on the preprocessed inputs. `serving_default` is the
first modality's signature (for tools that call the default). Only the variables the
signatures read are saved (no optimizer state, momentum teachers or queues).

format="hub" adds TF Hub's Reusable SavedModel API as `sslzoo.export.hub` does for
one encoder: per modality, `module.encoders[m]` has `__call__(inputs, training)` on
the encoder's own input (`adapter.model_spec`) returning h, `variables`,
`trainable_variables` and `regularization_losses` (so
`sslzoo.export.load_encoder(path, modality=m)` fine-tunes one encoder), and the root
has the same over all modalities with a dict input `{m: inputs}` -> `{m: h}`.
"""
import numpy as np
import tensorflow as tf

from sslzoo.export.adapters import adapter_for
from sslzoo.export.saved_model import load_saved_model
from sslzoo.export.serving import _regularization_losses, _tf_variables, modality_signature, untracked_captures

MODALITY_ORDER = ("image", "video", "audio", "text")


def is_multimodal(model):
    """Whether `model` is an objective with more than one encoder (`model.encoders`)."""
    encoders = getattr(model, "encoders", None)
    return isinstance(encoders, dict) and len(encoders) > 1


def model_spaces(model, modality):
    """The names of `modality`'s embeddings, "features" first (`model.spaces`, else just features)."""
    spaces = getattr(model, "spaces", None)
    names = tuple(spaces(modality)) if callable(spaces) else ("features",)
    if not names or names[0] != "features":
        raise ValueError(f"`model.spaces({modality!r})` must start with 'features', got {names}")
    return names


def space_heads(model, modality):
    """{space: head(features (B, F), model_inputs) -> (B, D)} for the spaces beyond "features".

    Each head is the objective's `project(features, modality, space)` when it has one
    (one encoder pass serves every space), else `embed(model_inputs, modality, space)`.
    """
    project = getattr(model, "project", None)
    heads = {}
    for space in model_spaces(model, modality)[1:]:
        if callable(project):
            heads[space] = (lambda s: lambda features, _: project(features, modality, s, training=False))(space)
        else:
            heads[space] = (lambda s: lambda _, inputs: model.embed(inputs, modality, s, training=False))(space)
    return heads


def text_tokenizer(model, encoder):
    """The tokenizer of a text encoder: its own `.tokenizer`, else the objective's `.tokenizer`."""
    tokenizer = getattr(encoder, "tokenizer", None)
    return tokenizer if tokenizer is not None else getattr(model, "tokenizer", None)


def select_modalities(model, modality=None):
    """The modalities to export: all of `model.modalities` (or `model.encoders`), or the ones named."""
    available = tuple(getattr(model, "modalities", None) or tuple(model.encoders))
    if modality is None:
        return available
    wanted = (modality,) if isinstance(modality, str) else tuple(modality)
    unknown = [m for m in wanted if m not in available]
    if not wanted or unknown:
        raise ValueError(f"`modality` must name some of {available}, got {modality!r}")
    return wanted


def modality_adapters(model, modalities):
    """{modality: InputAdapter} for the encoders of `model` (text adapters get the tokenizer)."""
    adapters = {}
    for modality in modalities:
        encoder = model.encoders[modality]
        if modality == "text":
            tokenizer = text_tokenizer(model, encoder)
            if tokenizer is None:
                raise ValueError("`model` has a text encoder but no tokenizer (neither `model.tokenizer` nor "
                                 "`model.encoders['text'].tokenizer`); the text signature takes raw strings")
            adapters[modality] = adapter_for(encoder, modality, tokenizer=tokenizer)
        else:
            adapters[modality] = adapter_for(encoder, modality)
    return adapters


class MultimodalModule(tf.Module):
    """One signature per modality of `model` (see the module docstring).

    Args:
      model: objective with `encoders` (dict modality -> keras.Model), `spaces(m)` and
        `project(features, m, space)` or `embed(inputs, m, space)`.
      adapters: {modality: InputAdapter}, in signature order.
    """

    def __init__(self, model, adapters, name=None):
        super().__init__(name=name)
        object.__setattr__(self, "modality_names", tuple(adapters))
        self.functions = {}
        for modality, adapter in adapters.items():
            body = modality_signature(model.encoders[modality], adapter, space_heads(model, modality))
            self.functions[modality] = tf.function(body, input_signature=[adapter.signature_spec])
        concrete = [function.get_concrete_function() for function in self.functions.values()]
        # Plain Python data, kept out of the SavedModel's object graph.
        object.__setattr__(self, "output_specs", {
            m: {k: v.shape.as_list() for k, v in c.structured_outputs.items()}
            for m, c in zip(self.functions, concrete)})
        self.encoder_variables = {m: _tf_variables(model.encoders[m].variables) for m in self.modality_names}
        tracked = [v for variables in self.encoder_variables.values() for v in variables]
        self.head_variables = untracked_captures(concrete, tracked)

    @property
    def signatures(self):
        """{signature key: tf.function}: one per modality, and `serving_default` = the first."""
        signatures = dict(self.functions)
        signatures["serving_default"] = self.functions[self.modality_names[0]]
        return signatures


class ReusableEncoder(tf.Module):
    """TF Hub's Reusable SavedModel API for one encoder: `__call__(inputs, training)` -> h (B, F).

    With `training=True` batch normalisation uses batch statistics and updates its
    moving averages, so `hub.KerasLayer(module.encoders[m], trainable=True)` and
    `sslzoo.export.load_encoder(path, modality=m)` fine-tune the encoder.
    """

    variables = ()
    trainable_variables = ()
    regularization_losses = ()

    def __init__(self, encoder, adapter, name=None):
        super().__init__(name=name)
        self.__call__ = tf.function(lambda inputs, training=False: encoder(inputs, training=training))
        for training in (False, True):
            self.__call__.get_concrete_function(adapter.model_spec, training=training)
        self.variables = _tf_variables(encoder.variables)
        self.trainable_variables = _tf_variables(encoder.trainable_variables)
        self.regularization_losses = _regularization_losses(encoder)


class MultimodalHubModule(MultimodalModule):
    """`MultimodalModule` plus the Reusable SavedModel API, per modality and at the root.

    Root `__call__(inputs, training=False)`: `{m: model-ready inputs}` for every
    modality -> `{m: h (B, F_m)}`; `variables` etc. are all the encoders'.
    """

    variables = ()
    trainable_variables = ()
    regularization_losses = ()

    def __init__(self, model, adapters, name=None):
        super().__init__(model, adapters, name=name)
        self.encoders = {m: ReusableEncoder(model.encoders[m], adapters[m], name=f"{m}_encoder") for m in adapters}
        modules = self.encoders
        encoders = {m: model.encoders[m] for m in adapters}

        def call(inputs, training=False):
            return {m: encoders[m](inputs[m], training=training) for m in encoders}

        self.__call__ = tf.function(call)
        specs = {m: adapters[m].model_spec for m in adapters}
        for training in (False, True):
            self.__call__.get_concrete_function(specs, training=training)
        self.variables = [v for m in modules for v in modules[m].variables]
        self.trainable_variables = [v for m in modules for v in modules[m].trainable_variables]
        self.regularization_losses = [loss for m in modules for loss in modules[m].regularization_losses]


def write_multimodal(model, adapters, path, export_format="saved_model"):
    """Writes the per-modality SavedModel of `model` to `path`.

    Args:
      model: objective with several encoders (see `MultimodalModule`).
      adapters: {modality: InputAdapter} (`modality_adapters`).
      path: output folder.
      export_format: "saved_model" or "hub" (adds the Reusable SavedModel API).
    Returns:
      {modality: {output name: shape}} of the signatures.
    """
    if export_format not in ("saved_model", "hub"):
        raise ValueError(f"`format` for an objective with several encoders must be 'saved_model' or 'hub' "
                         f"(TFLite converts one encoder: save(model.encoders[m], path, format='tflite')); "
                         f"got {export_format!r}")
    module_class = MultimodalHubModule if export_format == "hub" else MultimodalModule
    module = module_class(model, adapters)
    tf.saved_model.save(module, path, signatures=module.signatures)
    return module.output_specs


class MultimodalEncoder:
    """A loaded export as per-modality embedding functions.

    Attributes:
      path: the export folder.
      modalities: tuple of modality names, e.g. ("video", "audio", "text").
    """

    def __init__(self, path):
        self.path = str(path)
        self._loaded = load_saved_model(self.path)  # keeps the variables alive
        signatures = self._loaded.signatures
        self._functions, self._renames = {}, {}
        for modality in MODALITY_ORDER:
            if modality in signatures:
                self._functions[modality] = signatures[modality]
        if not self._functions and "serving_default" in signatures:
            # An export written before modality signatures: images, `embedding` is h.
            self._functions["image"] = signatures["serving_default"]
            self._renames["image"] = {"embedding": "features"}
        if not self._functions:
            raise ValueError(f"`path` {self.path!r} has none of the signatures {MODALITY_ORDER}; "
                             f"found {sorted(signatures)}")
        self._input_names = {}
        self._spaces = {}
        for modality, function in self._functions.items():
            _, kwargs = function.structured_input_signature
            (self._input_names[modality],) = tuple(kwargs)
            renames = self._renames.get(modality, {})
            names = [renames.get(name, name) for name in function.structured_outputs]
            self._spaces[modality] = ("features",) + tuple(sorted(n for n in names if n != "features"))
        self.modalities = tuple(self._functions)

    def spaces(self, modality):
        """The outputs of `modality`'s signature, "features" first."""
        self._check(modality)
        return self._spaces[modality]

    def input_spec(self, modality):
        """The `tf.TensorSpec` the signature of `modality` takes."""
        self._check(modality)
        _, kwargs = self._functions[modality].structured_input_signature
        return kwargs[self._input_names[modality]]

    def outputs(self, raw, modality):
        """{space: (B, D) tf.Tensor} for a batch of raw inputs of `modality` (see the signature table)."""
        self._check(modality)
        spec = self.input_spec(modality)
        raw = tf.convert_to_tensor(raw if spec.dtype != tf.string else np.asarray(raw, dtype=object), spec.dtype)
        result = self._functions[modality](**{self._input_names[modality]: raw})
        renames = self._renames.get(modality, {})
        return {renames.get(name, name): value for name, value in result.items()}

    def embed(self, raw, modality, space="features"):
        """Embeddings (B, D) tf.Tensor of raw inputs of `modality` in `space`."""
        if space not in self.spaces(modality):
            raise ValueError(f"`space` for {modality!r} must be one of {self.spaces(modality)}, got {space!r}")
        return self.outputs(raw, modality)[space]

    def _check(self, modality):
        if modality not in self._functions:
            raise ValueError(f"`modality` must be one of {self.modalities}, got {modality!r}")


def load_multimodal(path):
    """Loads any sslzoo export as a `MultimodalEncoder` (per-modality `embed`, `spaces`).

    Example:
      encoder = sslzoo.export.load_multimodal("exports/clip")
      texts = encoder.embed(["a photo of a seven"], "text", space="joint")      # (1, D)
      images = encoder.embed(uint8_images, "image", space="joint")              # (B, D)
    """
    return MultimodalEncoder(path)
