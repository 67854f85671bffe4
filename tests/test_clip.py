"""CLIP: loss and logit scale, both towers trained, encode_*, saving, export, zero-shot."""
import math

import numpy as np
import pytest

import tiny_models

SEQUENCE_LENGTH = tiny_models.CAPTION_SEQUENCE_LENGTH
IMAGE_SIZE = tiny_models.IMAGE_SIZE


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_models.caption_tokenizer(held_out=True)


def make_clip(tokenizer, text_encoder="bag_of_words", with_tokenizer=True, widths=(8, 16), embedding_dim=8,
              **kwargs):
    """`tiny_models.clip`, optionally without its tokenizer (then it takes token ids only)."""
    return tiny_models.clip(tokenizer if with_tokenizer else None, text_encoder, widths=widths,
                            vocabulary_size=tokenizer.vocabulary_size, sequence_length=tokenizer.sequence_length,
                            embedding_dim=embedding_dim, **kwargs)


@pytest.fixture(scope="module")
def batch(tokenizer):
    from sslzoo.data import captions

    return next(iter(captions.digit_caption_dataset("train", tokenizer, batch_size=16,
                                                     image_size=IMAGE_SIZE, limit=64)))


def _numpy_clip_loss(image_emb, text_emb, scale):
    """Independent formula: symmetric softmax CE of scale * cosine similarities."""
    a = image_emb / np.linalg.norm(image_emb, axis=1, keepdims=True)
    b = text_emb / np.linalg.norm(text_emb, axis=1, keepdims=True)
    logits = scale * a @ b.T

    def ce(x):
        x = x - x.max(axis=1, keepdims=True)
        return np.mean(np.log(np.exp(x).sum(axis=1)) - np.diag(x))

    return 0.5 * (ce(logits) + ce(logits.T))


def test_objective_matches_numpy_loss_and_initial_scale(tokenizer, batch):
    model = make_clip(tokenizer)
    # exp(log(1 / 0.07)) in float32: two roundings, 2 x eps32 = 2.4e-7 -> rtol 1e-6
    np.testing.assert_allclose(float(model.scale), 1 / 0.07, rtol=1e-6)
    loss, results = model.compute_objective(batch, training=False)
    image_emb = model.image_projection(model.encoder(batch["image"])).numpy()
    text_emb = model.text_projection(model.text_encoder(batch["text"])).numpy()
    expected = _numpy_clip_loss(image_emb.astype(np.float64), text_emb.astype(np.float64), 1 / 0.07)
    # float32 towers and loss vs float64 numpy on the same embeddings: logits <= scale 14.3 x
    # eps32 x D ~ 1e-5 absolute on a loss ~2-3 -> rtol 1e-4
    np.testing.assert_allclose(float(loss), expected, rtol=1e-4)
    cos = image_emb @ text_emb.T / np.outer(np.linalg.norm(image_emb, axis=1), np.linalg.norm(text_emb, axis=1))
    diag = np.arange(len(cos))
    expected_accuracy = 0.5 * (np.mean(cos.argmax(1) == diag) + np.mean(cos.argmax(0) == diag))
    np.testing.assert_allclose(float(results["accuracy"]), expected_accuracy)


@pytest.mark.parametrize("start", [math.log(100.0) - 1e-3, 1e-3])
def test_log_scale_is_clamped_after_steps_that_overshoot(tokenizer, batch, start):
    import keras
    import tensorflow as tf

    model = make_clip(tokenizer)
    model.log_scale.assign(start)
    with tf.GradientTape() as tape:
        loss, _ = model.compute_objective(batch, training=True)
    gradient = float(tape.gradient(loss, model.log_scale))
    learning_rate = 50.0 / abs(gradient)  # a plain SGD step moves the log-scale by 50
    unclamped = start - learning_rate * gradient
    assert not 0.0 <= unclamped <= math.log(100.0)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate))
    model.fit(tf.data.Dataset.from_tensors(batch), epochs=1, verbose=0)
    # After the one step whose update was computed above, the clamped value. (Later steps start
    # at the bound, where the gradient is ~0 of either sign, so only their bounds are checked.)
    # float32 log-scale (|v| <= 4.6) after an SGD step: eps32 x 4.6 = 5.5e-7 per op, a few ops -> 1e-5
    assert float(model.log_scale) == pytest.approx(float(np.clip(unclamped, 0.0, math.log(100.0))), abs=1e-5)
    model.fit(tf.data.Dataset.from_tensors(batch).repeat(2), epochs=1, verbose=0)
    assert 0.0 <= float(model.log_scale) <= math.log(100.0) + 1e-6
    assert float(model.scale) <= 100.0 + 1e-4


@pytest.mark.parametrize("loss_scaled", [False, True])
def test_weight_decay_leaves_the_logit_scale_alone(tokenizer, batch, loss_scaled):
    import keras
    import tensorflow as tf

    from sslzoo import keras_internals

    model = make_clip(tokenizer)
    optimizer = keras.optimizers.AdamW(0.0, weight_decay=0.5)  # learning rate 0: only decay could move it
    optimizer.exclude_from_weight_decay(var_names=["bias"])  # an exclusion set before compile is kept
    model.compile(optimizer=keras.optimizers.LossScaleOptimizer(optimizer) if loss_scaled else optimizer)
    before = float(model.log_scale)
    model.fit(tf.data.Dataset.from_tensors(batch), epochs=1, verbose=0)
    assert float(model.log_scale) == before
    assert not keras_internals.decays(optimizer, model.log_scale)
    assert keras_internals.decays(optimizer, model.image_projection.kernel)
    assert not any(keras_internals.decays(optimizer, v) for v in model.trainable_variables if "bias" in v.name)
    with pytest.raises(ValueError, match="already built"):
        make_clip(tokenizer).compile(optimizer=optimizer)


def test_one_step_changes_both_towers(tokenizer, batch):
    import keras
    import tensorflow as tf

    model = make_clip(tokenizer, text_encoder="transformer")
    before = {"image": [w.numpy() for w in model.encoder.trainable_weights],
              "text": [w.numpy() for w in model.text_encoder.trainable_weights]}
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    history = model.fit(tf.data.Dataset.from_tensors(batch), epochs=1, verbose=0)
    assert set(history.history) == {"loss", "logit_scale", "accuracy"}
    for tower, encoder in (("image", model.encoder), ("text", model.text_encoder)):
        moved = [np.abs(a - w.numpy()).max() for a, w in zip(before[tower], encoder.trainable_weights)]
        assert min(moved) > 0.0, f"{tower} tower has weights without gradient: {moved}"


def test_encode_image_and_text_give_unit_rows(tokenizer, digits):
    model = make_clip(tokenizer)
    images = digits[0][:5, :, :, None]  # uint8 28x28x1: resized inside
    image_emb = np.asarray(model.encode_image(images))
    text_emb = np.asarray(model.encode_text(["a handwritten seven.", "the digit two."]))
    assert image_emb.shape == (5, 8) and text_emb.shape == (2, 8)
    # float32 L2 normalisation of an 8-16-dim row: eps32 x D -> rtol 1e-5
    np.testing.assert_allclose(np.linalg.norm(image_emb, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(text_emb, axis=1), 1.0, rtol=1e-5)
    float_emb = np.asarray(model.encode_image(images.astype(np.float32) / 255.0))
    # uint8 vs pre-scaled float input: the /255 rounding (eps32) through the tower to unit rows, ~1e-6
    np.testing.assert_allclose(float_emb, image_emb, atol=1e-5)


def test_bad_arguments_raise(tokenizer, batch):
    from sslzoo import backbones
    from sslzoo.models.clip import CLIP

    model = make_clip(tokenizer)
    with pytest.raises(ValueError, match="tokenizer"):
        make_clip(tokenizer, with_tokenizer=False).encode_text(["a seven"])
    with pytest.raises(ValueError, match=r"CLIP: the batch does not match.*'image'.*'text'"):
        model.compute_objective({"image": batch["image"]}, training=False)
    with pytest.raises(ValueError, match="text_encoder"):
        CLIP(backbones.small_cnn(input_shape=(16, 16, 3), widths=(8,)), "not a model")
    with pytest.raises(ValueError, match="max_scale"):
        make_clip(tokenizer, max_scale=5.0)


def test_keras_round_trip(tokenizer, batch, tmp_path):
    import keras

    model = make_clip(tokenizer, text_encoder="transformer")
    model.log_scale.assign(2.5)
    path = str(tmp_path / "clip.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    # 2.5 is exact in float32 and restored bitwise: approx's rel 1e-6 is only the float32 -> float cast
    assert type(restored) is type(model) and float(restored.log_scale) == pytest.approx(2.5)
    prompts = ["a handwritten seven.", "this is the digit two."]
    # restored weights bitwise equal, same float32 graph: unit rows equal to a few eps32
    np.testing.assert_allclose(restored.encode_text(prompts), model.encode_text(prompts), atol=1e-6)
    np.testing.assert_allclose(restored.embed_images(batch["image"]), model.embed_images(batch["image"]), atol=1e-6)
    assert restored.tokenizer.vocabulary == tokenizer.vocabulary
    assert set(restored.encoders) == {"image", "text"}


def test_saved_text_tower_on_raw_strings_matches_keras(tokenizer, tmp_path):
    import tensorflow as tf
    import sslzoo.export
    import sslzoo.export.text_adapter  # noqa: F401  registers the "text" adapter

    model = make_clip(tokenizer, text_encoder="transformer")
    path = sslzoo.export.save(model.text_tower, str(tmp_path / "text_tower"))
    serve = tf.saved_model.load(path).signatures["serving_default"]
    strings = ["A handwritten SEVEN!", "this is the digit two.", "an unseen zebra"]
    served = serve(text=tf.constant(strings))["embedding"].numpy()
    ids = tokenizer(tf.constant(strings))
    keras_out = model.text_tower(ids).numpy()
    # SavedModel vs Keras, same float32 graph, unit rows: a few eps32
    np.testing.assert_allclose(served, keras_out, atol=1e-6)
    np.testing.assert_allclose(served, np.asarray(model.encode_text(strings)), atol=1e-6)


def test_short_training_beats_chance_at_zero_shot(tokenizer):
    import keras
    from sslzoo import evaluation
    from sslzoo.data import captions

    model = make_clip(tokenizer, widths=(16, 32), embedding_dim=16)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    dataset = captions.digit_caption_dataset("train", tokenizer, batch_size=32, image_size=IMAGE_SIZE, limit=640,
                                             numeral_fraction=0.0)
    history = model.fit(dataset, epochs=6, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    images, labels = captions.digits("test")
    accuracy = evaluation.zero_shot(model, images[:300], labels[:300], captions.DIGIT_CLASS_NAMES,
                                    captions.HELD_OUT_TEMPLATES)["top1"]
    assert accuracy > 0.4, f"zero-shot top-1 {accuracy} is not well above chance (0.1)"


def test_clip_task_builds_trains_and_reports():
    from sslzoo.models import presets
    from sslzoo.train import clip_task

    preset = dict(presets.get("clip_digits"), image_size=16, batch_size=32, epochs=1, embedding_dim=8,
                  backbone={"name": "small_cnn", "widths": [8]},
                  text_encoder={"name": "transformer", "width": 16, "depth": 1, "heads": 2})
    built = clip_task.build(preset, max_examples=64)
    batch = next(iter(built["train_dataset"]))
    assert batch["image"].shape == (32, 16, 16, 3) and batch["text"].shape == (32, preset["sequence_length"])
    assert built["steps_per_epoch"] == 2 and built["model"].optimizer is not None
    built["model"].fit(built["train_dataset"], epochs=1, verbose=0)
    report = clip_task.evaluate(built["model"], built, max_examples=50)
    for key in ("zero_shot_top1", "image_to_text/R@1", "text_to_image/R@1"):
        assert 0.0 <= report[key] <= 1.0, (key, report)
    with pytest.raises(ValueError, match="digits"):
        clip_task.build(dict(preset, dataset="cifar10"))
