"""Shared pytest set-up: quiet, deterministic TensorFlow with tiny thread pools."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same seeds, so failures reproduce."""
    import keras

    keras.utils.set_random_seed(1234)
    yield


@pytest.fixture(scope="session")
def digits():
    """The bundled digits as (images uint8 (5000, 28, 28), labels int (5000,))."""
    from tiny_models import load_digits

    return load_digits()
