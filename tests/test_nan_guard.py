"""The NaN guard (issue 19): a non-finite loss or gradient stops training at once, naming the step,
the logged values and their last finite ones, and the last good backup stays on disk; mixed
float16 keeps its loss scaling (skipped steps) instead."""
import numpy as np
import pytest

BATCH, FEATURES = 8, 4
BAD_STEP = 3  # 1-based: the step whose batch holds a NaN


def _two_terms_class():
    import keras
    import tensorflow as tf

    from sslzoo.models.base import SSLModel

    class TwoTerms(SSLModel):
        """loss = term_a + term_b with term_a = mean(h^2), term_b = mean(sqrt(|h| + offset)); batch x (B, 4)."""

        metric_names = ("loss", "term_a", "term_b")

        def __init__(self, encoder, offset=1.0, **kwargs):
            super().__init__(encoder, **kwargs)
            self.offset = float(offset)
            self.built = True

        def compute_objective(self, batch, training):
            h = tf.cast(self.encoder(batch, training=training), tf.float32)
            term_a = tf.reduce_mean(tf.square(h))
            term_b = tf.reduce_mean(tf.sqrt(tf.abs(h) + self.offset))
            return term_a + term_b, {"term_a": term_a, "term_b": term_b}

    def build(offset=1.0, jit_compile=False, optimizer=None):
        keras.utils.set_random_seed(0)
        encoder = keras.Sequential([keras.Input((FEATURES,)), keras.layers.Dense(3)])
        model = TwoTerms(encoder, offset=offset)
        model.compile(optimizer=optimizer or keras.optimizers.SGD(0.05), jit_compile=jit_compile)
        return model

    return build


def _batches(steps, bad_step=None, zeros=False):
    """A dataset of `steps` batches (B, 4), one per element; batch `bad_step` (1-based) holds a NaN."""
    import tensorflow as tf

    x = np.zeros((steps, BATCH, FEATURES), np.float32) if zeros else \
        np.random.default_rng(0).normal(size=(steps, BATCH, FEATURES)).astype(np.float32)
    if bad_step is not None:
        x[bad_step - 1, 0, 0] = np.nan
    return tf.data.Dataset.from_tensor_slices(x)


def _values(message, label):
    """{name: value} listed after `label` in the error message: "<label>: loss=1.2, term_a=0.3, term_b=0.9. ..."."""
    assert label in message, f"no {label!r} in: {message}"
    listed = message.split(label, 1)[1].split(": ", 1)[1].split(". ", 1)[0]
    return {name: float(value) for name, value in (item.split("=") for item in listed.split(", "))}


@pytest.mark.parametrize("jit_compile", [False, True])
def test_a_nan_loss_names_the_step_and_the_last_finite_values(tmp_path, jit_compile):
    import keras

    from sslzoo import backup
    from sslzoo.models.nan_guard import NonFiniteLossError

    model = _two_terms_class()(jit_compile=jit_compile)
    weights_after = {}

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            weights_after[int(self.model.optimizer.iterations.numpy())] = [w.copy() for w in self.model.get_weights()]

    saver = backup.ExactBackupAndRestore(tmp_path, every_steps=1, data_position="checkpoint")
    # One batch per epoch: each epoch's logged means are that step's values.
    with pytest.raises(NonFiniteLossError) as error:
        model.fit(_batches(5, BAD_STEP), steps_per_epoch=1, epochs=5, verbose=0, callbacks=[Record(), saver])
    message = str(error.value.message)
    assert f"the loss is NaN or infinite at step {BAD_STEP}" in message, message
    last = _values(message, f"Last finite values (step {BAD_STEP - 1})")
    logged = model.history.history  # the two finished epochs = steps 1 and 2
    assert set(last) == {"loss", "term_a", "term_b"}
    for name, value in last.items():
        # The message prints 6 significant digits: a relative rounding of at most 5e-6.
        assert value == pytest.approx(logged[name][BAD_STEP - 2], rel=5e-6), (name, message)
    assert np.isnan(_values(message, f"Logged values at step {BAD_STEP}")["loss"])
    # The backup on disk is the last good step's, bit for bit, and holds no NaN.
    newest = backup.latest_backup(tmp_path)
    assert backup.read_state(newest)["batches"] == BAD_STEP - 1
    restored = _two_terms_class()()
    restored.optimizer.build(restored.trainable_variables)
    backup.restore_variables(newest, restored)
    for saved, good in zip(restored.get_weights(), weights_after[BAD_STEP - 1]):
        np.testing.assert_array_equal(saved, good)
    if not jit_compile:  # the failed step changed nothing (under XLA its gradient is zeroed instead)
        assert int(model.optimizer.iterations.numpy()) == BAD_STEP - 1
        for now, good in zip(model.get_weights(), weights_after[BAD_STEP - 1]):
            np.testing.assert_array_equal(now, good)


def test_a_non_finite_gradient_with_a_finite_loss_stops_training():
    from sslzoo.models.nan_guard import NonFiniteLossError

    # offset 0 and all-zero inputs: h = 0 (zero bias), loss = 0 + sqrt(0) = 0 is finite,
    # but d sqrt(|h|)/dh at 0 is inf * 0 = NaN.
    model = _two_terms_class()(offset=0.0)
    with pytest.raises(NonFiniteLossError) as error:
        model.fit(_batches(2, zeros=True), epochs=1, verbose=0)
    message = str(error.value.message)
    assert "a gradient is NaN or infinite at step 1 (the loss is finite)" in message, message
    assert _values(message, "Logged values at step 1") == {"loss": 0.0, "term_a": 0.0, "term_b": 0.0}
    assert "No step had finished in this run." in message


def test_mixed_float16_skips_an_inf_gradient_step_instead_of_stopping():
    import keras

    # An initial loss scale of 2^40 makes the scaled float16 gradients overflow to inf on
    # the first steps; the LossScaleOptimizer skips each such step and halves the scale.
    initial_scale = 2.0**40
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.05), initial_scale=initial_scale)
        model = _two_terms_class()(optimizer=optimizer)
        assert model.encoder.layers[0].compute_dtype == "float16"
        start = [w.copy() for w in model.get_weights()]
        model.fit(_batches(40), epochs=1, verbose=0)  # no NonFiniteLossError
        scale = float(keras.ops.convert_to_numpy(optimizer.dynamic_scale))
    finally:
        keras.config.set_dtype_policy(previous)
    assert scale < initial_scale  # at least one step had a non-finite gradient and was skipped
    final = model.get_weights()
    assert all(np.all(np.isfinite(w)) for w in final)
    assert any(not np.array_equal(a, b) for a, b in zip(start, final))  # later steps trained
