"""Loading saved objectives and encoders (`.keras` files) in any process.

`keras.saving.load_model` finds each class of a saved model by its registered name,
and a class is registered only once its module has been imported; a program that
loads a CLIP or MMV file without importing the text encoders fails with "Could not
locate class 'TransformerTextEncoder'". `load_model` imports every sslzoo module
that registers serializables first, and always loads in Keras safe mode (a file
with a `Lambda` layer, i.e. pickled Python code, is refused).
"""
import os

MODEL_FILE = "model.keras"


def register_serializables():
    """Imports every sslzoo module that registers Keras serializables a saved objective may name.

    Objectives (`sslzoo.models`, every module in it), their optimizers and schedules,
    heads, image/video/audio backbones (temporal shift, volume BN, log-mel), text
    encoders and tokenizers, and augmentation layers.
    """
    import sslzoo.augment  # noqa: F401
    import sslzoo.backbones  # noqa: F401  (video layers, synchronized BN, audio via log_mel)
    import sslzoo.data.av.log_mel  # noqa: F401  (LogMelSpectrogram)
    import sslzoo.heads  # noqa: F401
    import sslzoo.models  # noqa: F401  (the objectives: every module of the package)
    import sslzoo.optimizers  # noqa: F401  (LARS, WarmupCosine)
    import sslzoo.text  # noqa: F401  (Tokenizer, WordTokenizer, Transformer/BagOfWords/MMV text encoders)


def load_model(path):
    """The `keras.Model` saved in the `.keras` file `path`, in safe mode, sslzoo's classes registered."""
    import keras

    register_serializables()
    return keras.saving.load_model(path, safe_mode=True)


def resolve_model_file(path):
    """The `.keras` file named by `path`: the file itself, or `model.keras` in a run folder."""
    path = os.fspath(path)
    if os.path.isdir(path):
        candidate = os.path.join(path, MODEL_FILE)
        if not os.path.isfile(candidate):
            raise ValueError(f"`model` (--model) folder {path!r} has no {MODEL_FILE} "
                             "(expected a run folder of sslzoo-train)")
        return candidate
    if path.endswith(".keras") and os.path.isfile(path):
        return path
    raise ValueError(f"`model` (--model) must be a .keras file or a folder with {MODEL_FILE}; received {path!r}")


def load_trained_encoder(path):
    """The encoder of the objective saved in `path` (a `.keras` file or a run folder); a saved
    encoder (not an objective) is returned as it is."""
    model = load_model(resolve_model_file(path))
    return getattr(model, "encoder", model)
