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
