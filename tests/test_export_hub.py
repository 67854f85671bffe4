"""TF Hub (Reusable SavedModel) export: hub.load, tf_keras fine-tuning, Keras 3
`load_encoder` fine-tuning with Adam, input-adapter extension, the CLI."""
import os

import numpy as np
import pytest
import tensorflow as tf

from export_helpers import IMAGE_SIZE, L2, digits_rgb, pickled_files, train_tiny_encoder
from sslzoo import export
from sslzoo.export import adapters
from sslzoo.preprocessing import eval_images


@pytest.fixture(scope="module")
def hub_export(digits, tmp_path_factory):
    """A trained tiny encoder exported once as a Hub module, plus fine-tuning data."""
    import keras

    keras.utils.set_random_seed(11)
    encoder = train_tiny_encoder(digits)
    path = export.save(encoder, tmp_path_factory.mktemp("hub") / "module", format="hub")
    raw, labels = digits_rgb(digits, 128, offset=3000)
    return {"encoder": encoder, "path": path, "x": eval_images(raw, IMAGE_SIZE).numpy(), "y": labels}


def test_folder_fits_kaggle_models_layout(hub_export):
    names = set(os.listdir(hub_export["path"]))
    assert {"saved_model.pb", "variables", "assets", "model_card.md", "model_card.json"} <= names
    assert pickled_files(hub_export["path"]) == []


def test_hub_load_reusable_api(hub_export):
    import tensorflow_hub as hub

    module = hub.load(hub_export["path"])
    encoder, x = hub_export["encoder"], hub_export["x"][:16]
    assert np.abs(module(x, training=False).numpy() - encoder(x, training=False).numpy()).max() <= 1e-5
    assert len(module.variables) == len(encoder.variables)
    assert len(module.trainable_variables) == len(encoder.trainable_variables)
    kernel = encoder.get_layer("embedding").kernel.numpy()
    penalties = [float(loss()) for loss in module.regularization_losses]
    np.testing.assert_allclose(penalties, [L2 * np.sum(kernel.astype(np.float64) ** 2)], rtol=1e-5)


def test_keras3_tfsm_layer_serves_the_export(hub_export):
    import keras

    layer = keras.layers.TFSMLayer(hub_export["path"], call_endpoint="serving_float")
    x = hub_export["x"][:8]
    out = layer(x)["embedding"].numpy()
    assert np.abs(out - hub_export["encoder"](x, training=False).numpy()).max() <= 1e-5


def _weights(variables):
    return [np.array(v) for v in variables]


def _changed(before, variables):
    return max(np.abs(b - np.array(v)).max() for b, v in zip(before, variables))


def test_hub_keras_layer_fine_tunes_in_tf_keras(hub_export):
    import tensorflow_hub as hub
    import tf_keras

    layer = hub.KerasLayer(hub_export["path"], trainable=True)
    model = tf_keras.Sequential([tf_keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3)), layer, tf_keras.layers.Dense(10)])
    model.compile(tf_keras.optimizers.Adam(1e-2),
                  tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = _weights(layer.trainable_weights)
    assert len(before) == len(hub_export["encoder"].trainable_weights)
    history = model.fit(hub_export["x"], hub_export["y"], batch_size=32, epochs=4, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert _changed(before, layer.trainable_weights) > 1e-4


def test_load_encoder_fine_tunes_with_adam_in_keras3(hub_export):
    import keras

    encoder = export.load_encoder(hub_export["path"], trainable=True)
    model = keras.Sequential([keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3)), encoder, keras.layers.Dense(10)])
    model.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = hub_export["x"][:16]
    np.testing.assert_allclose(encoder(x).numpy(), hub_export["encoder"](x, training=False).numpy(), atol=1e-5)
    trainable, moving = _weights(encoder.trainable_weights), _weights(encoder.non_trainable_weights)
    assert len(trainable) == len(hub_export["encoder"].trainable_weights) and len(moving) == 4
    history = model.fit(hub_export["x"], hub_export["y"], batch_size=32, epochs=4, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert _changed(trainable, encoder.trainable_weights) > 1e-4
    assert _changed(moving, encoder.non_trainable_weights) > 1e-6  # BN statistics follow the data
    encoder(x, training=True)
    assert len(encoder.losses) == 1  # the Dense kernel's L2 penalty


def test_load_encoder_frozen_keeps_weights(hub_export):
    import keras

    encoder = export.load_encoder(hub_export["path"], trainable=False)
    assert encoder.trainable_weights == []
    model = keras.Sequential([keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3)), encoder, keras.layers.Dense(10)])
    model.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = _weights(encoder.weights)
    model.fit(hub_export["x"], hub_export["y"], batch_size=32, epochs=1, verbose=0)
    assert _changed(before, encoder.weights) == 0.0
    encoder.trainable = True  # unfreezing gives the encoder's trainable weights back
    assert len(encoder.trainable_weights) == len(hub_export["encoder"].trainable_weights)


def test_load_encoder_rejects_a_plain_saved_model(hub_export, tmp_path):
    path = export.save(hub_export["encoder"], tmp_path / "plain", format="saved_model")
    with pytest.raises(ValueError, match="not a Reusable SavedModel"):
        export.load_encoder(path)


class _CountsAdapter(adapters.InputAdapter):
    """A toy modality for the extension point: int32 counts (B, D) -> float32 counts / 10."""

    modality = "counts"

    @classmethod
    def matches(cls, encoder):
        return len(adapters.encoder_input_shape(encoder)) == 2

    @property
    def raw_spec(self):
        return tf.TensorSpec([None, self.input_shape[1]], tf.int32, name="counts")

    fixed_spec = raw_spec

    @property
    def model_spec(self):
        return tf.TensorSpec([None, self.input_shape[1]], tf.float32, name="counts")

    def preprocess(self, raw):
        return tf.cast(raw, tf.float32) / 10.0

    def describe(self):
        return {"raw": "int32 counts", "model": "float32 counts / 10", "preprocessing": "/ 10"}


def test_a_new_modality_plugs_in_through_an_adapter(tmp_path):
    import keras

    encoder = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4)])
    adapters.register_adapter("counts", _CountsAdapter)
    try:
        path = export.save(encoder, tmp_path / "counts", format="hub", modality="counts")
    finally:
        adapters.unregister_adapter("counts")
    counts = np.arange(15, dtype=np.int32).reshape(3, 5)
    out = tf.saved_model.load(path).signatures["serving_default"](counts=tf.constant(counts))
    kernel, bias = (w.numpy() for w in encoder.weights)
    np.testing.assert_allclose(out["embedding"].numpy(), counts / 10.0 @ kernel + bias, atol=1e-5)
    assert "counts" not in adapters.registered_modalities()


def test_cli_exports_an_objective_in_every_format(hub_export, tmp_path):
    from sslzoo import saving
    from sslzoo.export import main
    from sslzoo.models import SimCLR

    objective = SimCLR(hub_export["encoder"])
    objective.save(str(tmp_path / "model.keras"))
    (tmp_path / "report.json").write_text('{"evaluation": {"knn": 0.9}}')
    folders = main.export_model(str(tmp_path), str(tmp_path / "out"), "all", tflite_variants=("float32",))
    assert [os.path.basename(f) for f in folders] == ["saved_model", "hub", "tflite"]
    assert os.path.isfile(os.path.join(folders[2], "model_float32.tflite"))
    card = open(os.path.join(folders[1], "model_card.json")).read()
    assert '"knn": 0.9' in card and '"objective": "SimCLR"' in card
    x = hub_export["x"][:8]
    out = tf.saved_model.load(folders[0]).signatures["serving_float"](images=tf.constant(x))
    np.testing.assert_allclose(out["projection"].numpy(), objective.embed(x, "image", "projection").numpy(), atol=1e-5)
    module = tf.saved_model.load(folders[1])  # Hub `variables`: the encoder's, not the head's
    assert len(module.variables) == len(objective.encoder.variables)
    assert module.signatures["serving_float"](images=tf.constant(x))["projection"].shape == (8, 128)
    with pytest.raises(ValueError, match="--model"):
        saving.resolve_model_file(str(tmp_path / "out"))
