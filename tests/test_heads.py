"""Tests for sslzoo.heads: shapes, numpy forward pass, last-BN statistics, prototypes."""

import numpy as np
import pytest

import keras
from sslzoo.heads import PredictionHead, Prototypes, ProjectionHead

BN_EPSILON = 1e-5


def _inputs(batch, dim, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, dim)).astype(np.float32)


def test_projection_head_matches_numpy_mlp_in_inference():
    head = ProjectionHead(hidden_dims=(6, 5), output_dim=4)
    x = _inputs(3, 7)
    z = np.asarray(head(x, training=False))
    expected = x
    for i in (1, 2):
        w = head.hidden_layers[i - 1][0].kernel.numpy()
        bn = head.hidden_layers[i - 1][1]
        y = expected @ w
        y = (y - bn.moving_mean.numpy()) / np.sqrt(bn.moving_variance.numpy() + BN_EPSILON)
        expected = np.maximum(y * bn.gamma.numpy() + bn.beta.numpy(), 0.0)
    expected = expected @ head.output_dense.kernel.numpy() + head.output_dense.bias.numpy()
    assert z.shape == (3, 4)
    # float32 dense layers of <= 16-term dot products on |x| <= ~5: eps32 x 16 x 5 ~ 1e-5.
    np.testing.assert_allclose(z, expected, rtol=1e-5, atol=1e-5)


def test_hidden_linears_before_bn_have_no_bias():
    with_bn = ProjectionHead(hidden_dims=(8,), output_dim=4)
    without_bn = ProjectionHead(hidden_dims=(8,), output_dim=4, use_bn=False)
    with_bn.build((None, 5))
    without_bn.build((None, 5))
    assert with_bn.hidden_layers[0][0].bias is None and with_bn.hidden_layers[0][1] is not None
    assert without_bn.hidden_layers[0][0].bias is not None and without_bn.hidden_layers[0][1] is None
    # hidden kernel, gamma, beta, output kernel, output bias
    assert len(with_bn.trainable_weights) == 5


def test_linear_head_without_hidden_layers():
    head = ProjectionHead(hidden_dims=(), output_dim=3)
    x = _inputs(4, 5)
    z = np.asarray(head(x))
    expected = x @ head.output_dense.kernel.numpy() + head.output_dense.bias.numpy()
    # float32 dense layers of <= 16-term dot products on |x| <= ~5: eps32 x 16 x 5 ~ 1e-5.
    np.testing.assert_allclose(z, expected, rtol=1e-5, atol=1e-5)


def test_last_bn_without_affine_standardises_each_output_dim():
    head = ProjectionHead(hidden_dims=(16,), output_dim=8, last_bn=True, last_bn_affine=False)
    z = np.asarray(head(_inputs(64, 10) * 3.0 + 2.0, training=True))
    # BN over 64 rows: mean 0 to float32 rounding of 64-term sums on values ~5 (64 x eps32 x 5 ~ 4e-5);
    # the biased variance is 1 - eps/(var+eps) with var ~O(1-10) and eps 1e-3 (BN default): |1 - var| <= 1e-2.
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(z.var(axis=0), 1.0, atol=1e-2)
    assert head.output_bn.gamma is None and head.output_bn.beta is None
    assert head.output_dense.bias is None


@pytest.mark.parametrize("output_bias, last_bn, has_bias", [(None, False, True), (None, True, False),
                                                              (False, False, False), (True, True, True)])
def test_output_bias_defaults_to_no_bias_before_a_last_bn(output_bias, last_bn, has_bias):
    head = ProjectionHead(hidden_dims=(8,), output_dim=4, last_bn=last_bn, output_bias=output_bias)
    head.build((None, 5))
    assert (head.output_dense.bias is not None) == has_bias
    assert ProjectionHead.from_config(head.get_config()).output_bias == output_bias


def test_prediction_head_without_any_bias_as_moco_v3():
    # moco-v3 builder.py _build_mlp: every nn.Linear(..., bias=False), the predictor without a last BN.
    head = PredictionHead(hidden_dim=12, output_dim=6, output_bias=False)
    head.build((None, 6))
    assert head.hidden_layers[0][0].bias is None and head.output_dense.bias is None and head.output_bn is None
    assert PredictionHead.from_config(head.get_config()).get_config() == head.get_config()


def test_last_bn_with_affine_learns_gamma_beta():
    head = ProjectionHead(hidden_dims=(16,), output_dim=8, last_bn=True)
    head(_inputs(4, 10))
    assert head.output_bn.gamma.shape == (8,) and head.output_bn.beta.shape == (8,)


def test_prediction_head_is_one_hidden_layer_and_round_trips():
    head = PredictionHead(hidden_dim=12, output_dim=6)
    assert np.asarray(head(_inputs(3, 6))).shape == (3, 6)
    assert [dense.units for dense, _ in head.hidden_layers] == [12]
    config = head.get_config()
    assert config["hidden_dim"] == 12 and "hidden_dims" not in config
    clone = PredictionHead.from_config(config)
    assert clone.hidden_dims == (12,) and clone.output_dim == 6


def test_prototypes_unit_columns_and_cosine_scores():
    prototypes = Prototypes(5)
    z = _inputs(4, 3)
    scores = np.asarray(prototypes(z))
    w = prototypes.kernel.numpy()
    # unit columns in float32: a D-term norm, eps32 x D <= 1e-5.
    np.testing.assert_allclose(np.linalg.norm(w, axis=0), 1.0, rtol=1e-5)
    expected = (z / np.linalg.norm(z, axis=1, keepdims=True)) @ w
    # cosine scores |s| <= 1 from float32 dot products of <= 16 terms: 16 x eps32 ~ 2e-6 abs.
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-6)
    assert scores.shape == (4, 5) and np.all(np.abs(scores) <= 1.0 + 1e-6)


@pytest.mark.subprocess
def test_heads_keras_round_trip(tmp_path):
    model = keras.Sequential([
        keras.Input((5,)),
        ProjectionHead(hidden_dims=(8,), output_dim=4, last_bn=True, last_bn_affine=False),
        PredictionHead(hidden_dim=6, output_dim=4),
        Prototypes(3),
    ])
    x = _inputs(4, 5)
    model(x, training=True)
    path = str(tmp_path / "heads.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_array_equal(np.asarray(restored(x)), np.asarray(model(x)))
    assert [type(layer).__name__ for layer in restored.layers] == ["ProjectionHead", "PredictionHead", "Prototypes"]


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: ProjectionHead(hidden_dims=(8, 0)), r"hidden_dims.*\(8, 0\)"),
        (lambda: ProjectionHead(hidden_dims=8), r"hidden_dims"),
        (lambda: ProjectionHead(output_dim=-1), r"output_dim.*-1"),
        (lambda: PredictionHead(hidden_dim=0), r"hidden_dims.*\(0,\)"),
        (lambda: Prototypes(0), r"num_prototypes.*0"),
    ],
)
def test_bad_arguments_raise(build, message):
    with pytest.raises(ValueError, match=message):
        build()
