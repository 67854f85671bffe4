"""Every objective through the shared harness: fit lowers the loss, .keras round trip."""
import numpy as np
import pytest

import objective_harness as harness


@pytest.fixture(scope="module")
def train_digits(digits):
    images, labels = digits
    return images[:256], labels[:256]


@pytest.mark.parametrize("name", harness.OBJECTIVES)
def test_fit_lowers_loss_and_roundtrips(name, train_digits, tmp_path):
    images, labels = train_digits
    model, history = harness.check_fit_lowers_loss(name, images, labels)
    for metric in model.metric_names:
        assert metric in history.history, f"{name} did not report {metric}"
    view_1, _ = harness.fixed_views(images[:8])
    harness.check_keras_roundtrip(model, view_1, tmp_path)


@pytest.mark.parametrize("name", ["simclr", "moco_v2"])
def test_representation_is_encoder_output(name, train_digits):
    model = harness.make_objective(name)
    view_1, _ = harness.fixed_views(train_digits[0][:4])
    np.testing.assert_allclose(model(view_1), model.encoder(view_1), rtol=1e-6)
    assert model(view_1).shape == (4, model.representation_dim)


def test_nan_loss_stops_training_with_a_clear_error(train_digits):
    import keras
    import tensorflow as tf

    model = harness.make_objective("simclr")
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    view_1, view_2 = harness.fixed_views(train_digits[0][:16])
    view_1[0, 0, 0, 0] = np.nan
    weights = [np.array(v) for v in model.trainable_variables]
    with pytest.raises(tf.errors.InvalidArgumentError, match="loss is NaN or infinite"):
        model.fit(tf.data.Dataset.from_tensors((view_1, view_2)), epochs=1, verbose=0)
    # The optimizer applied nothing (batch-norm statistics of the forward pass did see the batch).
    for before, after in zip(weights, model.trainable_variables):
        np.testing.assert_array_equal(before, np.array(after))


def test_encoder_must_be_a_keras_model():
    from sslzoo import models

    with pytest.raises(ValueError, match="`encoder` must be a keras.Model"):
        models.SimCLR(lambda x: x)
