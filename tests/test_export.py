"""SavedModel and TFLite exports: parity with Keras, preprocessing inside, errors, card."""
import json
import os
import pickle

import numpy as np
import pytest
import tensorflow as tf

from export_helpers import (IMAGE_SIZE, FakeObjective, cosine_similarity, digits_rgb,
                            pickled_files, tiny_encoder, train_tiny_encoder)
from sslzoo import export
from sslzoo.preprocessing import eval_images

REPORT = {"dataset": "digits", "training": {"steps": 12}, "evaluation": {"linear_probe": 0.5}}


@pytest.fixture(scope="module")
def exported(digits, tmp_path_factory):
    """A trained tiny objective exported once as SavedModel and TFLite."""
    import keras

    keras.utils.set_random_seed(7)
    objective = FakeObjective(train_tiny_encoder(digits))
    root = tmp_path_factory.mktemp("export")
    report_path = root / "report.json"
    report_path.write_text(json.dumps(REPORT))
    return {
        "objective": objective,
        "saved_model": export.save(objective, root / "saved_model", report=str(report_path)),
        "tflite": export.save(objective, root / "tflite", format="tflite", report=REPORT),
        "root": root,
    }


@pytest.fixture(scope="module")
def raw_digits(digits):
    return digits_rgb(digits, 64, offset=4000)[0]


def keras_outputs(objective, images):
    embedding = objective.encoder(images, training=False)
    return embedding.numpy(), objective.projector(embedding, training=False).numpy()


def test_saved_model_float_signature_matches_keras(exported, raw_digits):
    serve = tf.saved_model.load(exported["saved_model"]).signatures["serving_float"]
    x = eval_images(raw_digits, IMAGE_SIZE)
    out = serve(images=x)
    embedding, projection = keras_outputs(exported["objective"], x)
    # SavedModel runs the same float32 graph; only kernel blocking may differ: a few eps32 x |y| <= ~50
    assert np.abs(out["embedding"].numpy() - embedding).max() <= 1e-5
    assert np.abs(out["projection"].numpy() - projection).max() <= 1e-5
    assert np.abs(embedding).max() > 1e-3  # a real, non-degenerate output


@pytest.mark.parametrize("height, width", [(28, 28), (37, 23)])
def test_uint8_signature_preprocesses_any_size_like_eval_images(exported, raw_digits, height, width):
    raw = tf.image.resize(raw_digits, (height, width), method="nearest").numpy().astype(np.uint8)
    serve = tf.saved_model.load(exported["saved_model"]).signatures["serving_default"]
    out = serve(images=tf.constant(raw))
    embedding, projection = keras_outputs(exported["objective"], eval_images(raw, IMAGE_SIZE))
    # SavedModel runs the same float32 graph; only kernel blocking may differ: a few eps32 x |y| <= ~50
    assert np.abs(out["embedding"].numpy() - embedding).max() <= 1e-5
    assert np.abs(out["projection"].numpy() - projection).max() <= 1e-5


def test_batch_dimension_is_dynamic(exported, raw_digits):
    serve = tf.saved_model.load(exported["saved_model"]).signatures["serving_default"]
    whole = serve(images=tf.constant(raw_digits[:7]))["embedding"].numpy()
    assert whole.shape == (7, 12)
    single = serve(images=tf.constant(raw_digits[3:4]))["embedding"].numpy()
    # one row vs the same row in a batch: float32 kernels may block differently, few eps32 x |y| <= 10.
    np.testing.assert_allclose(single[0], whole[3], atol=1e-5)


@pytest.mark.parametrize("bad", [np.zeros((2, 28, 28, 3), np.float32), np.zeros((28, 28, 3), np.uint8),
                                 np.zeros((2, 28, 28, 1), np.uint8)])
def test_signature_tensor_spec_rejects_wrong_dtype_or_rank(exported, bad):
    loaded = tf.saved_model.load(exported["saved_model"])
    with pytest.raises(TypeError, match=r"Can not cast TensorSpec.*dtype=tf.uint8, name='images'"):
        loaded.serving_default(images=tf.constant(bad))


def test_signature_map_rejects_wrong_dtype(exported):
    serve = tf.saved_model.load(exported["saved_model"]).signatures["serving_default"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="expected to be a uint8 tensor"):
        serve(images=tf.zeros((2, 28, 28, 3), tf.float32))


def _interpreter(path):
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_path=path, num_threads=1)


def _tflite_embed(path, images, signature="serving_float"):
    runner = _interpreter(path).get_signature_runner(signature)
    return runner(images=images)


def test_tflite_float32_matches_keras(exported, raw_digits):
    path = os.path.join(exported["tflite"], "model_float32.tflite")
    x = eval_images(raw_digits[:16], IMAGE_SIZE).numpy()
    embedding, projection = keras_outputs(exported["objective"], x)
    out = _tflite_embed(path, x)
    # TFLite uses its own float32 kernels (different conv/matmul sum order): ~eps32 x K (K <= ~600-term
    # convolutions) x |y| ~ 1e-4 worst case
    assert np.abs(out["embedding"] - embedding).max() <= 1e-4
    assert np.abs(out["projection"] - projection).max() <= 1e-4
    fixed = tf.image.resize(raw_digits[:16], (IMAGE_SIZE, IMAGE_SIZE), method="nearest")
    fixed = fixed.numpy().astype(np.uint8)
    embedding_fixed, _ = keras_outputs(exported["objective"], eval_images(fixed, IMAGE_SIZE))
    out_fixed = _tflite_embed(path, fixed, signature="serving_fixed")
    # TFLite float32 kernels: as above
    assert np.abs(out_fixed["embedding"] - embedding_fixed).max() <= 1e-4


@pytest.mark.parametrize("variant", ["float16", "int8"])
def test_tflite_reduced_precision_close_to_float(exported, raw_digits, variant):
    x = eval_images(raw_digits, IMAGE_SIZE).numpy()
    reference = _tflite_embed(os.path.join(exported["tflite"], "model_float32.tflite"), x)
    out = _tflite_embed(os.path.join(exported["tflite"], f"model_{variant}.tflite"), x)
    assert cosine_similarity(out["embedding"], reference["embedding"]).min() >= 0.99
    assert os.path.getsize(os.path.join(exported["tflite"], f"model_{variant}.tflite")) < (
        os.path.getsize(os.path.join(exported["tflite"], "model_float32.tflite")))


def test_tflite_batch_resizes(exported, raw_digits):
    interpreter = _interpreter(os.path.join(exported["tflite"], "model_float32.tflite"))
    detail = interpreter.get_input_details()[0]
    assert detail["shape_signature"][0] == -1 and detail["dtype"] == np.uint8
    batch = raw_digits[:5]
    fixed = tf.image.resize(batch, (IMAGE_SIZE, IMAGE_SIZE), method="nearest").numpy().astype(np.uint8)
    interpreter.resize_tensor_input(detail["index"], fixed.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(detail["index"], fixed)
    interpreter.invoke()
    outputs = {d["name"]: interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()}
    embedding, _ = keras_outputs(exported["objective"], eval_images(fixed, IMAGE_SIZE))
    assert any(v.shape == (5, 12) and np.abs(v - embedding).max() <= 1e-4 for v in outputs.values())


def test_model_card_beside_every_export(exported):
    for folder, export_format in ((exported["saved_model"], "saved_model"), (exported["tflite"], "tflite")):
        card = json.loads(open(os.path.join(folder, "model_card.json")).read())
        assert card["objective"] == "FakeObjective" and card["format"] == export_format
        assert card["evaluation"] == {"linear_probe": 0.5}
        assert card["training_data"] == "digits" and card["training_budget"] == {"steps": 12}
        assert card["versions"]["tensorflow"] == tf.__version__
        assert "uint8" in card["input"]["raw"] and "projection" in card["output"]
        markdown = open(os.path.join(folder, "model_card.md")).read()
        assert "linear_probe" in markdown and "tiny_encoder" in markdown
    assert "model_float16.tflite" in card["files"]


def test_exports_contain_no_pickles(exported, tmp_path):
    assert pickled_files(exported["saved_model"]) == []
    assert pickled_files(exported["tflite"]) == []
    (tmp_path / "state.bin").write_bytes(pickle.dumps({"a": 1}, protocol=4))
    assert len(pickled_files(tmp_path)) == 1  # the scan does find a pickle


def test_save_errors(exported, tmp_path):
    import keras

    unbuilt = keras.Sequential([keras.layers.Dense(3)])
    with pytest.raises(ValueError, match="not built"):
        export.save(unbuilt, tmp_path / "a")
    encoder = exported["objective"].encoder
    with pytest.raises(ValueError, match="`format`"):
        export.save(encoder, tmp_path / "b", format="onnx")
    with pytest.raises(ValueError, match="already exists"):
        export.save(encoder, exported["saved_model"])
    with pytest.raises(ValueError, match="tflite_variants"):
        export.save(encoder, tmp_path / "c", format="tflite", tflite_variants=("int4",))
    with pytest.raises(ValueError, match="`modality`"):
        export.save(encoder, tmp_path / "d", modality="smell")
    assert not os.path.exists(tmp_path / "c")  # a failed export leaves nothing behind


def test_overwrite_replaces_an_existing_export(tmp_path, raw_digits):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "stale.txt").write_text("old")
    encoder = tiny_encoder()
    path = export.save(encoder, tmp_path / "out", overwrite=True)
    assert not os.path.exists(os.path.join(path, "stale.txt"))
    out = tf.saved_model.load(path).signatures["serving_default"](images=tf.constant(raw_digits[:4]))
    assert set(out) == {"embedding"}  # a plain encoder has no projection output


def test_resnet18_saved_model_parity(tmp_path, raw_digits):
    from sslzoo.backbones import resnet18

    encoder = resnet18(input_shape=(32, 32, 3), stem="cifar", width=0.125)
    path = export.save(encoder, tmp_path / "resnet18")
    out = tf.saved_model.load(path).signatures["serving_default"](images=tf.constant(raw_digits[:8]))
    expected = encoder(eval_images(raw_digits[:8], 32), training=False).numpy()
    # the same float32 ResNet graph in a SavedModel: kernel blocking only, a few eps32 x |y|
    assert np.abs(out["embedding"].numpy() - expected).max() <= 1e-5
