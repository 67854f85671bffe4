"""The private Keras API sslzoo relies on (sslzoo.keras_internals) still behaves as it assumes."""
import keras
import tensorflow as tf

from sslzoo import keras_internals


def _functional():
    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(2)(inputs))


class _Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(2)

    def call(self, x):
        return self.dense(x)


def test_functional_and_subclassed_models_are_told_apart():
    assert keras_internals.is_functional(_functional())
    assert not keras_internals.is_functional(_Subclassed())


def test_unbuilt_nested_layers_are_found():
    model = _Subclassed()
    assert keras_internals.unbuilt_layers(model) == [model.name, model.dense.name]  # nested layers too
    model(tf.zeros((1, 4)))
    assert keras_internals.unbuilt_layers(model) == []


def test_assigned_strategy_is_none_outside_a_scope_and_the_strategy_inside():
    assert keras_internals.assigned_strategy(_functional()) is None
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    with strategy.scope():
        model = _functional()
    assert keras_internals.assigned_strategy(model) is strategy


def test_tf_variable_unwraps_a_keras_variable():
    variable = keras.Variable(1.0)
    assert isinstance(keras_internals.tf_variable(variable), tf.Variable)
    plain = tf.Variable(1.0)
    assert keras_internals.tf_variable(plain) is plain
