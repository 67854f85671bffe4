"""Per-modality export: one SavedModel, one signature per encoder, outputs equal to `model.embed`.

Tolerance. The export and `model.embed` run the same float32 kernels on the same
weights; what differs is graph versus eager execution (grappler fuses conv + bias
+ activation and may reorder sums) and, for raw inputs, nothing else: the
preprocessing reference below is computed with the same ops outside the graph.
Reordering a float32 sum of K terms of size |t| moves it by about sqrt(K) * 2^-24
* |t| on average (K * 2^-24 * |t| at worst); the largest reduction here is a
3x3x16 convolution plus a 32-wide dense layer (K <= 150) on activations of order
1, i.e. 1e-6 typical and about 1e-5 at the very worst. The features are compared
relative to their largest entry (so a network with large activations does not
loosen the check) and the L2-normalised joint spaces absolutely, both at 1e-5,
the parity the export promises; every test also measures the graph-vs-eager floor
of `model.embed` itself and prints it. A wrong preprocessing step (no /255, a
different resize, a different tokenizer, training-mode batch norm) moves the
outputs by 1e-2 or more, three orders above the bound.
"""
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import tiny_models

SEQUENCE_LENGTH = tiny_models.CAPTION_SEQUENCE_LENGTH
IMAGE_SIZE = tiny_models.IMAGE_SIZE
TOLERANCE = 1e-5
FRAMES, FRAME_SIZE, SAMPLES, SAMPLE_RATE = 4, 16, 4000, 16000
NARRATIONS = ["the seven moves left", "a two moves up", "nine goes down quickly", "someone says one",
              "four to the right", "an unknown word zyzzyva"]


def _difference(actual, expected, space):
    """Max abs difference, relative to the largest |expected| entry for features (see the docstring)."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    scale = max(1.0, np.abs(expected).max()) if space == "features" else 1.0
    return np.abs(actual - expected).max() / scale


def _randomise_batch_norm_statistics(model, seed=0):
    """Moving means ~ N(0, 0.1), variances ~ U(0.5, 2): inference-mode BN is then far from identity."""
    rng = np.random.default_rng(seed)
    for variable in model.non_trainable_variables:
        path = getattr(variable, "path", variable.name)
        if "moving_mean" in path:
            variable.assign(rng.normal(0.0, 0.1, variable.shape).astype(np.float32))
        elif "moving_variance" in path:
            variable.assign(rng.uniform(0.5, 2.0, variable.shape).astype(np.float32))


def _check_parity(exported, model, modality, raw, model_inputs, label):
    """Every output of the export on `raw` equals `model.embed` on `model_inputs` (and graph == eager)."""
    worst, floor = 0.0, 0.0
    graph_embed = tf.function(lambda x, space: model.embed(x, modality, space, training=False),
                              reduce_retracing=True)
    assert set(exported) == set(model.spaces(modality)), (label, sorted(exported))
    for space in model.spaces(modality):
        expected = model.embed(model_inputs, modality, space, training=False).numpy()
        assert exported[space].shape == expected.shape, (label, space)
        worst = max(worst, _difference(exported[space], expected, space))
        floor = max(floor, _difference(graph_embed(model_inputs, space), expected, space))
    print(f"{label}: export vs model.embed {worst:.2e}, graph vs eager floor {floor:.2e}")
    assert worst <= TOLERANCE, (label, worst)


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_models.caption_tokenizer(held_out=True, sequence_length=SEQUENCE_LENGTH)


def make_clip(tokenizer, text_encoder="bag_of_words"):
    model = tiny_models.clip(tokenizer, text_encoder)
    _randomise_batch_norm_statistics(model)
    return model


@pytest.fixture(scope="module")
def clip(tokenizer):
    return make_clip(tokenizer)


@pytest.fixture(scope="module")
def raw_images(digits):
    images, _ = digits
    gray = images[:6, ..., None]                                  # (6, 28, 28, 1) uint8
    colour = np.concatenate([gray, np.roll(gray, 3, axis=1), 255 - gray], axis=-1)  # distinct channels
    return {"gray": gray, "rgb": colour}


@pytest.fixture(scope="module")
def clip_exports(clip, tmp_path_factory):
    from sslzoo import export

    root = tmp_path_factory.mktemp("clip")
    return {fmt: export.save(clip, root / fmt, format=fmt) for fmt in ("saved_model", "hub")}


def mmv_encoders():
    """Tiny video (B, 4, 16, 16, 3), audio (B, 4000) and text (B,) string encoders, BN statistics randomised."""
    from sslzoo import backbones, text

    words = text.learn_word_vocabulary(NARRATIONS, size=40)
    encoders = {
        "video": backbones.small_video_cnn(input_shape=(FRAMES, FRAME_SIZE, FRAME_SIZE, 3), widths=(8, 16)),
        "audio": backbones.small_audio_cnn(input_shape=(SAMPLES,), sample_rate=SAMPLE_RATE, widths=(8, 16)),
        "text": text.MMVTextEncoder(words, sequence_length=SEQUENCE_LENGTH, embedding_dim=12, width=24),
    }
    for encoder in encoders.values():
        _randomise_batch_norm_statistics(encoder)
    return encoders


def make_mmv(heads):
    """sslzoo's MMV objective (`heads`: fac, shared or disjoint) on `mmv_encoders`, head BN randomised."""
    from sslzoo.models import MMV

    model = MMV(mmv_encoders(), heads=heads, va_dim=8, vat_dim=6, hidden_dim=8)
    _randomise_batch_norm_statistics(model, seed=5)
    return model


@pytest.fixture(scope="module")
def mmv():
    return make_mmv("fac")


@pytest.fixture(scope="module")
def mmv_export(mmv, tmp_path_factory):
    from sslzoo import export

    return export.save(mmv, tmp_path_factory.mktemp("mmv") / "hub", format="hub")


# ----------------------------------------------------------------------------- CLIP


@pytest.mark.parametrize("fmt", ["saved_model", "hub"])
def test_clip_signatures_equal_model_embed(clip, clip_exports, raw_images, tokenizer, fmt):
    from sslzoo.preprocessing import eval_images

    loaded = tf.saved_model.load(clip_exports[fmt])
    assert {"image", "text", "serving_default"} <= set(loaded.signatures)
    for kind, raw in raw_images.items():
        out = loaded.signatures["image"](image=tf.constant(raw))
        _check_parity(out, clip, "image", raw, eval_images(raw, IMAGE_SIZE), f"clip {fmt} image {kind}")
    texts = ["a handwritten seven", "A photo of the number 3!", "", "zero zero zero zero zero zero zero zero zero"]
    out = loaded.signatures["text"](text=tf.constant(texts))
    _check_parity(out, clip, "text", texts, tokenizer(tf.constant(texts)), f"clip {fmt} text")
    assert set(out) == {"features", "joint"}


def test_clip_hub_reusable_api_per_modality(clip, clip_exports, tokenizer):
    from sslzoo import export

    ids = tokenizer(tf.constant(["a handwritten seven", "a drawing of a two"]))
    images = np.random.default_rng(0).uniform(size=(3, IMAGE_SIZE, IMAGE_SIZE, 3)).astype(np.float32)
    module = tf.saved_model.load(clip_exports["hub"])
    assert sorted(module.encoders.keys()) == ["image", "text"]
    text_module = module.encoders["text"]
    assert len(text_module.variables) == len(clip.encoders["text"].variables)
    np.testing.assert_allclose(text_module(ids, training=False).numpy(),
                               clip.encoders["text"](ids).numpy(), atol=TOLERANCE)
    both = module({"image": tf.constant(images), "text": ids}, training=False)
    np.testing.assert_allclose(both["image"].numpy(), clip.encoders["image"](images).numpy(), atol=TOLERANCE)
    layer = export.load_encoder(clip_exports["hub"], modality="image", trainable=False)
    np.testing.assert_allclose(layer(images).numpy(), clip.encoders["image"](images).numpy(), atol=TOLERANCE)
    with pytest.raises(ValueError, match="`modality` must name one of"):
        export.load_encoder(clip_exports["hub"])
    with pytest.raises(ValueError, match="`modality` must be one of"):
        export.load_encoder(clip_exports["hub"], modality="audio")


def test_load_multimodal_embeds_like_the_model(clip, clip_exports, raw_images, tokenizer):
    from sslzoo import export
    from sslzoo.preprocessing import eval_images

    encoder = export.load_multimodal(clip_exports["saved_model"])
    assert encoder.modalities == ("image", "text")
    assert encoder.spaces("text") == ("features", "joint")
    joint = encoder.embed(raw_images["gray"], "image", space="joint").numpy()
    expected = clip.embed(eval_images(raw_images["gray"], IMAGE_SIZE), "image", "joint").numpy()
    assert np.abs(joint - expected).max() <= TOLERANCE
    texts = encoder.embed(["a handwritten seven"], "text", "joint").numpy()
    assert np.abs(texts - clip.embed(tokenizer(tf.constant(["a handwritten seven"])), "text", "joint")).max() <= TOLERANCE
    with pytest.raises(ValueError, match="`space`"):
        encoder.embed(["x"], "text", "va")
    with pytest.raises(ValueError, match="`modality`"):
        encoder.embed(["x"], "audio")


def test_clip_model_card_describes_each_signature(clip_exports):
    import json

    card = json.load(open(os.path.join(clip_exports["hub"], "model_card.json")))
    assert card["objective"] == "CLIP" and card["modalities"] == ["image", "text"]
    assert "WordPiece" in card["signatures"]["text"]["preprocessing"]
    assert set(card["signatures"]["image"]["outputs"]) == {"features", "joint"}
    assert "## Usage" in open(os.path.join(clip_exports["hub"], "model_card.md")).read()


def test_multimodal_errors(clip, tmp_path):
    from sslzoo import export

    with pytest.raises(ValueError, match="`format` 'tflite'"):
        export.save(clip, tmp_path / "t", format="tflite")
    with pytest.raises(ValueError, match="`modality` must name some of"):
        export.save(clip, tmp_path / "m", modality="video")
    only_text = export.save(clip, tmp_path / "text_only", modality="text")
    assert export.load_multimodal(only_text).modalities == ("text",)


# ----------------------------------------------------------------------------- images of any channel count


def _gray_encoder():
    import keras

    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1), name="images")
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same")(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    outputs = keras.layers.Dense(6)(keras.layers.GlobalAveragePooling2D()(x))
    encoder = keras.Model(inputs, outputs, name="gray_encoder")
    _randomise_batch_norm_statistics(encoder)
    return encoder


def test_grayscale_encoder_exports(raw_images, tmp_path):
    from sslzoo import export
    from sslzoo.preprocessing import eval_images

    encoder = _gray_encoder()
    path = export.save(encoder, tmp_path / "gray", format="hub")
    loaded = tf.saved_model.load(path)
    gray, rgb = raw_images["gray"], raw_images["rgb"]
    # Reference: eval_images (which yields RGB) on the 1-channel image, one channel kept.
    expected = encoder(eval_images(gray, IMAGE_SIZE)[..., :1]).numpy()
    out = loaded.signatures["serving_default"](images=tf.constant(gray))["embedding"].numpy()
    assert np.abs(out - expected).max() <= TOLERANCE
    out = loaded.signatures["image"](image=tf.constant(gray))
    assert set(out) == {"features"} and np.abs(out["features"].numpy() - expected).max() <= TOLERANCE
    luma = np.asarray(rgb, np.float64) @ np.array([0.2989, 0.5870, 0.1140])  # ITU-R 601, independent of TF
    expected_rgb = encoder(tf.image.resize(luma[..., None].astype(np.float32) / 255.0, (IMAGE_SIZE, IMAGE_SIZE),
                                           antialias=True)).numpy()
    out = loaded.signatures["image"](image=tf.constant(rgb))["features"].numpy()
    assert np.abs(out - expected_rgb).max() <= 1e-4  # luma weights rounded to 4 digits: ~1e-4 / 255 per pixel
    with pytest.raises(tf.errors.InvalidArgumentError, match="channels"):
        loaded.signatures["image"](image=tf.zeros((1, 20, 20, 2), tf.uint8))
    card = open(os.path.join(path, "model_card.md")).read()
    assert "grayscale" in card


def test_rgb_export_keeps_its_signatures_and_adds_image(raw_images, tmp_path):
    from sslzoo import backbones, export
    from sslzoo.preprocessing import eval_images

    encoder = backbones.small_cnn(input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3), widths=(8,))
    path = export.save(encoder, tmp_path / "rgb")
    loaded = tf.saved_model.load(path)
    assert set(loaded.signatures) == {"serving_default", "serving_float", "serving_fixed", "image"}
    assert loaded.signatures["serving_default"].structured_input_signature[1]["images"].shape.as_list() == \
        [None, None, None, 3]
    expected = encoder(eval_images(raw_images["gray"], IMAGE_SIZE)).numpy()
    for kind in ("gray", "rgb"):
        out = loaded.signatures["image"](image=tf.constant(raw_images[kind]))["features"].numpy()
        reference = encoder(eval_images(raw_images[kind], IMAGE_SIZE)).numpy()
        assert np.abs(out - reference).max() <= TOLERANCE
    np.testing.assert_allclose(
        loaded.signatures["serving_default"](images=tf.constant(np.repeat(raw_images["gray"], 3, -1)))["embedding"],
        expected, atol=TOLERANCE)


# ----------------------------------------------------------------------------- video, audio, text


def test_video_audio_text_signatures_equal_model_embed(mmv, mmv_export):
    rng = np.random.default_rng(1)
    loaded = tf.saved_model.load(mmv_export)
    assert {"video", "audio", "text"} <= set(loaded.signatures)
    video = rng.uniform(size=(3, FRAMES, FRAME_SIZE, FRAME_SIZE, 3)).astype(np.float32)
    _check_parity(loaded.signatures["video"](video=tf.constant(video)), mmv, "video", video, video, "mmv video")
    audio = rng.normal(0.0, 0.3, (3, SAMPLES)).astype(np.float32)
    _check_parity(loaded.signatures["audio"](audio=tf.constant(audio)), mmv, "audio", audio, audio, "mmv audio")
    texts = ["The seven moves LEFT.", "nine goes down", "zyzzyva unknown words only", ""]
    out = loaded.signatures["text"](text=tf.constant(texts))
    _check_parity(out, mmv, "text", texts, mmv.tokenizer(tf.constant(texts)), "mmv text")
    assert set(out) == {"features", "vat"}


def test_video_of_another_size_is_cropped_and_resized_in_the_graph(mmv, mmv_export):
    rng = np.random.default_rng(2)
    video = rng.uniform(size=(2, FRAMES, 24, 40, 3)).astype(np.float32)
    # Independent reference: the centred 24x24 square (numpy), then the antialiased bilinear resize.
    square = video[:, :, :, 8:32].reshape(-1, 24, 24, 3)
    resized = tf.image.resize(square, (FRAME_SIZE, FRAME_SIZE), antialias=True).numpy()
    reference = np.clip(resized, 0.0, 1.0).reshape(2, FRAMES, FRAME_SIZE, FRAME_SIZE, 3)
    out = tf.saved_model.load(mmv_export).signatures["video"](video=tf.constant(video))
    _check_parity(out, mmv, "video", video, reference, "mmv video 24x40")


def test_audio_of_another_length_is_centred_or_padded(mmv, mmv_export):
    rng = np.random.default_rng(3)
    serve = tf.saved_model.load(mmv_export).signatures["audio"]
    long = rng.normal(0.0, 0.3, (2, SAMPLES + 101)).astype(np.float32)
    _check_parity(serve(audio=tf.constant(long)), mmv, "audio", long, long[:, 50:50 + SAMPLES], "mmv audio long")
    short = rng.normal(0.0, 0.3, (2, SAMPLES - 700)).astype(np.float32)
    padded = np.pad(short, ((0, 0), (0, 700)))
    _check_parity(serve(audio=tf.constant(short)), mmv, "audio", short, padded, "mmv audio short")


def test_sslzoo_mmv_exports_every_space(tmp_path):
    from sslzoo import export

    heads = "fac"
    model = make_mmv(heads)
    loaded = tf.saved_model.load(export.save(model, tmp_path / heads))
    rng = np.random.default_rng(6)
    inputs = {"video": rng.uniform(size=(2, FRAMES, FRAME_SIZE, FRAME_SIZE, 3)).astype(np.float32),
              "audio": rng.normal(0.0, 0.3, (2, SAMPLES)).astype(np.float32)}
    for modality, raw in inputs.items():
        out = loaded.signatures[modality](**{modality: tf.constant(raw)})
        _check_parity(out, model, modality, raw, raw, f"MMV {heads} {modality}")
    texts = ["nine goes down", "four to the right"]
    out = loaded.signatures["text"](text=tf.constant(texts))
    _check_parity(out, model, "text", texts, model.tokenizer(tf.constant(texts)), f"MMV {heads} text")


def test_mmv_hub_card_and_loader(mmv, mmv_export):
    import json

    from sslzoo import export

    card = json.load(open(os.path.join(mmv_export, "model_card.json")))
    assert card["modalities"] == ["video", "audio", "text"]
    assert card["video_frames"] == FRAMES and card["audio_sample_rate"] == SAMPLE_RATE
    assert "WordTokenizer" in card["signatures"]["text"]["preprocessing"]
    assert "WordPiece" not in card["signatures"]["text"]["preprocessing"]
    encoder = export.load_multimodal(mmv_export)
    assert encoder.modalities == ("video", "audio", "text")
    assert encoder.spaces("video") == ("features", "va", "vat") and encoder.spaces("text") == ("features", "vat")
    layer = export.load_encoder(mmv_export, modality="video", trainable=False)
    clip = np.random.default_rng(4).uniform(size=(1, FRAMES, FRAME_SIZE, FRAME_SIZE, 3)).astype(np.float32)
    np.testing.assert_allclose(layer(clip).numpy(), mmv.encoders["video"](clip).numpy(), atol=TOLERANCE)


def test_text_adapter_describes_its_tokenizer(mmv, tokenizer):
    from sslzoo import text
    from sslzoo.export import adapters

    word = adapters.adapter_for(mmv.encoders["text"], "text").describe()["preprocessing"]
    assert "WordTokenizer" in word and "WordPiece" not in word
    bag = text.BagOfWordsTextEncoder(tokenizer.vocabulary_size, SEQUENCE_LENGTH, width=4)
    piece = adapters.adapter_for(bag, "text", tokenizer=tokenizer).describe()["preprocessing"]
    assert "WordPiece" in piece


# ----------------------------------------------------------------------------- the export command


def test_export_command_reloads_saved_objectives_in_a_fresh_process(tokenizer, tmp_path):
    """`sslzoo-export --model=RUN/model.keras` in a new interpreter (nothing registered by this one)."""
    saved = {"clip": make_clip(tokenizer, text_encoder="transformer"), "mmv": make_mmv("fac")}
    for name, model in saved.items():
        (tmp_path / name).mkdir()
        model.save(str(tmp_path / name / "model.keras"))
    script = (
        "import sys\n"
        "from sslzoo.export import main\n"
        "for run in sys.argv[2:]:\n"
        "    main.export_model(f'{sys.argv[1]}/{run}', f'{sys.argv[1]}/{run}/export', 'saved_model')\n"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path), *saved],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = tf.saved_model.load(str(tmp_path / "clip" / "export"))
    texts = ["a handwritten seven"]
    out = loaded.signatures["text"](text=tf.constant(texts))
    _check_parity(out, saved["clip"], "text", texts, tokenizer(tf.constant(texts)), "sslzoo-export clip text")
    if "mmv" in saved:
        loaded = tf.saved_model.load(str(tmp_path / "mmv" / "export"))
        audio = np.random.default_rng(7).normal(0.0, 0.3, (2, SAMPLES)).astype(np.float32)
        _check_parity(loaded.signatures["audio"](audio=tf.constant(audio)), saved["mmv"], "audio", audio, audio,
                      "sslzoo-export mmv audio")


def test_export_all_skips_tflite_for_several_encoders(tmp_path):
    from sslzoo.export import main

    assert [name for name, _ in main.export_targets(str(tmp_path), "all", multimodal=True)] == ["saved_model", "hub"]
    assert [name for name, _ in main.export_targets(str(tmp_path), "all")] == ["saved_model", "hub", "tflite"]
