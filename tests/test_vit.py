"""Tests for sslzoo.backbones.vit: published sizes, a float64 numpy forward pass, position
resizing, serialisation, argument errors and DINO training with the digits ViT."""
import importlib
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from objective_harness import set_float_dtype
from sslzoo import backbones, models
from sslzoo.backbones.vit import DropPath

# The module itself: the attribute sslzoo.backbones.vit is the builder (as sslzoo.backbones.resnet is).
vit_module = importlib.import_module("sslzoo.backbones.vit")


def vit_parameters(width, depth, patch_size, tokens, mlp_ratio=4, channels=3):
    """Weights of a ViT without a classifier head, counted from its pieces."""
    hidden = int(width * mlp_ratio)
    patch_embed = patch_size * patch_size * channels * width + width  # Conv2D kernel + bias
    cls_token = width
    position = (tokens + 1) * width  # one position per patch and one for [CLS]
    block = (
        2 * width  # LayerNorm 1 (gamma, beta)
        + 4 * width * width + 4 * width  # q, k, v and output projections with biases
        + 2 * width  # LayerNorm 2
        + width * hidden + hidden + hidden * width + width  # MLP fc1, fc2 with biases
    )
    final_norm = 2 * width
    return patch_embed + cls_token + position + depth * block + final_norm


# 224 / 16 = 14: 196 patches.
VIT_TINY_PARAMETERS = vit_parameters(192, 12, 16, 196)  # = 5,524,416
VIT_SMALL_PARAMETERS = vit_parameters(384, 12, 16, 196)  # = 21,665,664


def _count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def _images(batch, size, seed=0):
    return np.random.default_rng(seed).random((batch, size, size, 3), dtype=np.float32)


@pytest.mark.parametrize("name, expected, published_millions, width", [
    # timm / DeiT list ViT-Ti/16 at 5.7M and ViT-S/16 at 22M (22.1M) with their 1000-way head.
    ("vit_tiny", VIT_TINY_PARAMETERS, 5.7, 192),
    ("vit_small", VIT_SMALL_PARAMETERS, 22.1, 384),
])
def test_presets_match_published_parameter_counts(name, expected, published_millions, width):
    assert expected == {"vit_tiny": 5_524_416, "vit_small": 21_665_664}[name]
    model = backbones.get(name)
    assert model.input_shape == (None, 224, 224, 3) and model.output_shape == (None, width)
    assert _count(model) == expected and not model.non_trainable_weights
    with_head = expected + width * 1000 + 1000
    assert round(with_head / 1e6, 1) == published_millions
    # Forward pass at a small size (same layers, a 2 x 2 grid).
    small = backbones.get(name, input_shape=(32, 32, 3), depth=1)
    h = np.asarray(small(_images(2, 32), training=False))
    assert h.shape == (2, width) and np.all(np.isfinite(h))


def test_initialisation_follows_dino():
    model = backbones.vit(input_shape=(32, 32, 3), patch_size=8, width=96, depth=2, heads=3)
    kernels = np.concatenate([w.numpy().ravel() for w in model.weights
                              if w.path.endswith("kernel") and not w.path.startswith("patch_embed")])
    # trunc_normal_(std=.02) with absolute bounds +-2: in effect N(0, 0.02^2) (Keras TruncatedNormal: 0.0176).
    assert abs(kernels.std() - 0.02) < 0.0005 and abs(kernels.mean()) < 0.0005
    biases = [w.numpy() for w in model.weights if w.path.endswith("bias") and not w.path.startswith("patch_embed")]
    assert all(np.all(b == 0) for b in biases)
    assert all(np.all(w.numpy() == 1) for w in model.weights if w.path.endswith("gamma"))
    bound = 1 / math.sqrt(8 * 8 * 3)  # PyTorch's default Conv2d init: U(+-1/sqrt(fan_in))
    patch = model.get_layer("patch_embed").kernel.numpy()
    assert np.abs(patch).max() <= bound and np.abs(patch).max() > 0.9 * bound


def _layer_norm(x, gamma, beta, eps=1e-6):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


# tf.nn.gelu(approximate=False) casts its 1/sqrt(2) through a float32 tensor even in float64
# (math_ops.cast of a Python float): 4e-9 from the exact value, so the reference uses that constant.
TF_GELU_INV_SQRT2 = float(np.float32(1.0 / math.sqrt(2.0)))


def _gelu(x):
    """Exact (erf) GELU, nn.GELU's default."""
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x * TF_GELU_INV_SQRT2))


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _prenorm_block(x, p, heads):
    """x + MHA(LN1(x)); then + MLP(LN2(x)). x (B, T, C); p: this block's weights by name."""
    batch, tokens, width = x.shape
    head = width // heads
    y = _layer_norm(x, p["norm1/gamma"], p["norm1/beta"])
    q, k, v = (np.einsum("btc,chd->bhtd", y, p[f"attn/{n}/kernel"]) + p[f"attn/{n}/bias"][None, :, None, :]
               for n in ("query", "key", "value"))
    attention = _softmax(np.einsum("bhtd,bhsd->bhts", q, k) / math.sqrt(head))
    context = np.einsum("bhts,bhsd->bthd", attention, v)
    x = x + np.einsum("bthd,hdc->btc", context, p["attn/attention_output/kernel"]) + p["attn/attention_output/bias"]
    y = _layer_norm(x, p["norm2/gamma"], p["norm2/beta"])
    y = _gelu(y @ p["mlp_fc1/kernel"] + p["mlp_fc1/bias"]) @ p["mlp_fc2/kernel"] + p["mlp_fc2/bias"]
    return x + y


def test_forward_pass_matches_numpy_in_float64():
    set_float_dtype("float64")
    try:
        patch, width, heads, depth = 4, 8, 2, 2
        model = backbones.vit(input_shape=(8, 12, 3), patch_size=patch, width=width, depth=depth, heads=heads,
                              mlp_ratio=2.0, name="vit64")
        rng = np.random.default_rng(3)
        for w in model.trainable_weights:  # move LayerNorm gains and every bias away from 1 / 0
            w.assign(rng.normal(scale=0.5, size=w.shape))
        params = {w.path: w.numpy() for w in model.weights}
        assert all(w.dtype == "float64" for w in model.weights)
        probe = keras.Model(model.input, [model.get_layer("block1_add2").output, model.output])
        x = rng.random((2, 8, 12, 3))
        block1, h = (np.asarray(t) for t in probe(x, training=False))
    finally:
        set_float_dtype("float32")

    # keras.layers.Normalization keeps its fixed mean and variance as float32 constants.
    mean = np.float32([0.485, 0.456, 0.406]).astype(np.float64)
    variance = np.float32(np.array([0.229, 0.224, 0.225]) ** 2).astype(np.float64)
    normalized = (x - mean) / np.sqrt(variance)
    # Patches in row-major grid order, each flattened as (row, col, channel) like the Conv2D kernel.
    grid = normalized.reshape(2, 2, patch, 3, patch, 3).transpose(0, 1, 3, 2, 4, 5).reshape(2, 6, -1)
    tokens = grid @ params["patch_embed/kernel"].reshape(-1, width) + params["patch_embed/bias"]
    cls = np.broadcast_to(params["tokens/cls_token"], (2, 1, width))
    tokens = np.concatenate([cls, tokens], axis=1) + params["tokens/position_embedding"]
    for i in range(1, depth + 1):
        block = {name[len(f"block{i}_"):]: value for name, value in params.items() if name.startswith(f"block{i}_")}
        tokens = _prenorm_block(tokens, block, heads)
        if i == 1:
            np.testing.assert_allclose(block1, tokens, rtol=1e-10, atol=1e-10)
    expected = _layer_norm(tokens, params["norm/gamma"], params["norm/beta"])[:, 0]
    np.testing.assert_allclose(h, expected, rtol=1e-10, atol=1e-10)


def _torch_bicubic_matrix(in_size, out_size, a=-0.75):
    """PyTorch's upsample_bicubic2d (align_corners=False) along one axis, written out in loops."""
    def near(t):  # |t| <= 1
        return ((a + 2) * t - (a + 3)) * t * t + 1

    def far(t):  # 1 < |t| < 2
        return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a

    matrix = np.zeros((out_size, in_size))
    for i in range(out_size):
        real = (i + 0.5) * in_size / out_size - 0.5
        start = math.floor(real)
        t = real - start
        for offset, weight in zip((-1, 0, 1, 2), (far(t + 1), near(t), near(1 - t), far(2 - t))):
            matrix[i, min(max(start + offset, 0), in_size - 1)] += weight
    return matrix


@pytest.mark.parametrize("in_size, out_size", [(7, 3), (4, 2), (3, 5), (4, 4)])
def test_bicubic_matrix_matches_torch_formula(in_size, out_size):
    got = vit_module.bicubic_matrix(in_size, out_size, tf.float64).numpy()
    np.testing.assert_allclose(got, _torch_bicubic_matrix(in_size, out_size), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got.sum(1), 1.0, rtol=1e-12)  # constants stay constant
    if in_size == out_size:
        np.testing.assert_array_equal(got, np.eye(in_size))


def test_other_sizes_resize_positions_and_build_size_is_unchanged():
    encoder = backbones.vit_digits(input_shape=(16, 16, 3), depth=1)
    free = backbones.any_size(encoder)
    assert free.input_shape == (None, None, None, 3)
    x = _images(2, 16)
    np.testing.assert_array_equal(np.asarray(free(x)), np.asarray(encoder(x)))
    layer = encoder.get_layer("tokens")
    position = layer.position_embedding.numpy()
    resized = layer.positions(2, 3).numpy()  # 4 x 4 grid -> 2 x 3
    grid = position[0, 1:].reshape(4, 4, -1)
    want = np.einsum("ai,ijc,bj->abc", _torch_bicubic_matrix(4, 2), grid, _torch_bicubic_matrix(4, 3))
    np.testing.assert_allclose(resized[0, 1:], want.reshape(6, -1), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(resized[0, 0], position[0, 0])
    assert np.asarray(free(_images(2, 8))).shape == (2, 64)
    assert np.asarray(free(np.zeros((1, 8, 12, 3), np.float32))).shape == (1, 64)


def test_keras_round_trip_gives_identical_outputs(tmp_path):
    model = backbones.vit_digits(input_shape=(16, 16, 3), depth=2, pool="avg", dropout=0.1, drop_path=0.2)
    assert model.get_layer("block2_drop_path1").rate == pytest.approx(0.2)
    assert "block1_drop_path1" not in [layer.name for layer in model.layers]  # rate 0 in the first block
    path = str(tmp_path / "vit.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    x = _images(3, 16)
    np.testing.assert_array_equal(np.asarray(restored(x)), np.asarray(model(x)))
    assert restored.count_params() == model.count_params()
    assert restored.get_layer("pool").pool == "avg"


def test_drop_path_drops_whole_samples_in_training_only():
    layer = vit_module.DropPath(0.5, seed=1)
    x = np.ones((64, 3, 2), np.float32)
    np.testing.assert_array_equal(np.asarray(layer(x)), x)
    y = np.asarray(layer(x, training=True))
    per_sample = y.reshape(64, -1)
    assert set(np.unique(per_sample)) == {0.0, 2.0}
    assert np.all(per_sample.min(1) == per_sample.max(1))


@pytest.mark.parametrize("kwargs, message", [
    (dict(width=100, heads=3), r"width.*heads.*width=100, heads=3"),
    (dict(input_shape=(30, 30, 3), patch_size=4), r"input_shape.*patch_size.*\(30, 30, 3\).*patch_size=4"),
    (dict(input_shape=(None, None, 3)), r"input_shape.*None"),
    (dict(input_shape=(32, 32, 1)), r"input_shape.*\(32, 32, 1\)"),
    (dict(patch_size=0), r"patch_size.*0"),
    (dict(depth=0), r"depth.*0"),
    (dict(heads=2.0), r"heads.*2\.0"),
    (dict(mlp_ratio=0), r"mlp_ratio.*0"),
    (dict(pool="max"), r"pool.*cls.*avg.*max"),
    (dict(dropout=1.0), r"dropout.*1\.0"),
    (dict(drop_path=-0.1), r"drop_path.*-0\.1"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        backbones.vit(**{"input_shape": (32, 32, 3), **kwargs})


def test_dino_trains_two_steps_with_the_digits_vit():
    encoder = backbones.get("vit_digits", input_shape=(16, 16, 3), depth=2)
    model = models.DINO(encoder, head={"hidden_dim": 32, "bottleneck_dim": 16, "output_dim": 64})
    rng = np.random.default_rng(0)
    # Two global crops at the encoder's size, two local crops at 8 x 8 (positions resized to 2 x 2).
    crops = tuple(rng.random((8, size, size, 3)).astype("float32") for size in (16, 16, 8, 8))
    tracked = ["patch_embed/kernel", "tokens/position_embedding", "tokens/cls_token", "block2_mlp_fc2/kernel"]
    before = {w.path: w.numpy().copy() for w in encoder.weights if w.path in tracked}
    teacher_before = [w.numpy().copy() for w in model.teacher_encoder.weights]
    model.compile(optimizer=keras.optimizers.AdamW(1e-3, weight_decay=0.04))
    history = model.fit(tf.data.Dataset.from_tensors(crops).repeat(2), epochs=1, verbose=0)
    assert model.optimizer.iterations.numpy() == 2
    assert all(np.isfinite(v).all() for v in history.history.values())
    for w in encoder.weights:
        if w.path in tracked:
            assert np.all(np.isfinite(w.numpy())) and np.abs(w.numpy() - before[w.path]).max() > 0, w.path
    assert any(np.abs(t.numpy() - t0).max() > 0 for t, t0 in zip(model.teacher_encoder.weights, teacher_before))


def test_dino_teacher_has_no_stochastic_depth():
    # main_dino.py builds the teacher ViT without drop_path_rate; the student keeps it.
    encoder = backbones.get("vit_digits", input_shape=(16, 16, 3), depth=3, drop_path=0.5)
    model = models.DINO(encoder, head={"hidden_dim": 32, "bottleneck_dim": 16, "output_dim": 64})
    student_rates = [layer.rate for layer in encoder.layers if isinstance(layer, DropPath)]
    teacher_rates = [layer.rate for layer in model.teacher_encoder.layers if isinstance(layer, DropPath)]
    assert student_rates and max(student_rates) == pytest.approx(0.5) and teacher_rates == [0.0] * len(student_rates)
    x = np.random.default_rng(0).random((16, 16, 16, 3)).astype("float32")
    # In training mode the teacher is deterministic, the student is not.
    np.testing.assert_array_equal(model.teacher_encoder(x, training=True), model.teacher_encoder(x, training=True))
    assert np.abs(np.asarray(encoder(x, training=True)) - np.asarray(encoder(x, training=True))).max() > 0
