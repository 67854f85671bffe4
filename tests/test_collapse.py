"""Collapse monitor against independent numpy formulas."""
import keras
import numpy as np
import pytest

from sslzoo.evaluation import collapse


def test_embedding_std_matches_numpy_and_its_limits():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(4000, 16))
    unit = z / np.sqrt((z ** 2).sum(1, keepdims=True))
    want = np.mean(np.sqrt(((unit - unit.mean(0)) ** 2).mean(0)))
    assert collapse.embedding_std(z) == pytest.approx(want, rel=1e-12)
    assert collapse.embedding_std(z) == pytest.approx(1 / np.sqrt(16), rel=0.05)
    assert collapse.embedding_std(np.tile(z[:1], (10, 1))) == pytest.approx(0.0, abs=1e-12)


def test_effective_rank_matches_numpy_and_its_limits():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(50, 8))
    s = np.linalg.svd(z, compute_uv=False)
    p = s / s.sum()
    assert collapse.effective_rank(z) == pytest.approx(np.exp(-(p * np.log(p)).sum()), rel=1e-12)
    assert collapse.effective_rank(np.outer(rng.normal(size=20), rng.normal(size=6))) == pytest.approx(1.0, rel=1e-6)
    assert collapse.effective_rank(np.eye(6) * 3) == pytest.approx(6.0, rel=1e-12)


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="z"):
        collapse.embedding_std(np.ones((3,)))
    with pytest.raises(ValueError, match="every_n_epochs"):
        collapse.CollapseMonitor(np.ones((4, 2)), every_n_epochs=0)


def _model(collapsed):
    inputs = keras.Input((4,))
    init = "zeros" if collapsed else "glorot_uniform"
    outputs = keras.layers.Dense(8, kernel_initializer=init, bias_initializer="ones")(inputs)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="mse")
    return model


@pytest.mark.parametrize("collapsed", [False, True])
def test_callback_logs_and_warns_on_collapse(collapsed):
    x = np.random.default_rng(2).normal(size=(64, 4)).astype("float32")
    monitor = collapse.CollapseMonitor(x, every_n_epochs=1)
    model = _model(collapsed)
    with pytest.warns(RuntimeWarning, match="collapse") if collapsed else _no_warning():
        history = model.fit(x, np.zeros((64, 8)), epochs=1, verbose=0, callbacks=[monitor],
                            batch_size=64) if not collapsed else _fit_frozen(model, x, monitor)
    logs = history.history
    assert "embedding_std" in logs and "effective_rank" in logs
    if collapsed:
        assert logs["embedding_std"][-1] == pytest.approx(0.0, abs=1e-9)


def _fit_frozen(model, x, monitor):
    model.trainable = False  # the constant output stays constant
    model.compile(optimizer="sgd", loss="mse")
    return model.fit(x, np.zeros((64, 8)), epochs=1, verbose=0, callbacks=[monitor], batch_size=64)


class _no_warning:
    def __enter__(self):
        import warnings
        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("error", RuntimeWarning)

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


def test_callback_reads_an_objectives_embed_space():
    import sys, os
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import tensorflow as tf
    from objective_harness import IMAGE_SIZE, tiny_encoder
    from sslzoo import models

    x = np.random.default_rng(3).random((16, IMAGE_SIZE, IMAGE_SIZE, 3)).astype("float32")
    model = models.BYOL(tiny_encoder())
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    monitor = collapse.CollapseMonitor(x, space="projection")
    history = model.fit(tf.data.Dataset.from_tensors((x, x[:, ::-1])), epochs=1, verbose=0, callbacks=[monitor])
    z = model.embed(x, space="projection").numpy()
    assert history.history["embedding_std"][-1] == pytest.approx(collapse.embedding_std(z), rel=1e-6)
    assert 1.0 <= history.history["effective_rank"][-1] <= z.shape[1]
