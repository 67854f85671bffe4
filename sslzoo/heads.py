"""Heads that SSL objectives put on top of an encoder's representation h.

- `ProjectionHead`: MLP g(h) -> z (SimCLR, MoCo v2/v3, Barlow Twins, SwAV, BYOL).
- `PredictionHead`: the MLP predictor q(z) of BYOL / SimSiam / MoCo v3.
- `Prototypes`: SwAV's bias-free linear layer with unit-norm prototype columns.
"""
import keras
from keras import ops

from sslzoo.backbones.common import batch_norm


@keras.saving.register_keras_serializable(package="sslzoo")
class ProjectionHead(keras.layers.Layer):
    """MLP: per hidden layer Linear -> BN -> activation, then Linear [-> BN].

    Linear layers followed by BN have no bias (the BN shift replaces it); the
    output Linear has one unless `last_bn` or `output_bias=False`.

    Args:
      hidden_dims: sizes of the hidden layers, e.g. (2048,) or (8192, 8192); may be ().
      output_dim: size of z.
      use_bn: BatchNormalization after each hidden Linear.
      last_bn: BatchNormalization on the output (SimCLR v2, MoCo v3, Barlow Twins).
      last_bn_affine: whether that last BN learns gamma/beta (Barlow Twins and
        MoCo v3 use False: the output is standardised per dimension).
      activation: Keras activation name for the hidden layers.
      synchronized_bn: cross-replica BatchNormalization.
      output_bias: whether the output Linear has a bias. None: only without
        `last_bn`. MoCo v3's heads use False everywhere (moco-v3 builder.py
        `_build_mlp`: every `nn.Linear(dim1, dim2, bias=False)`).

    Call: (B, D) -> (B, output_dim).
    """

    def __init__(self, hidden_dims=(2048,), output_dim=128, use_bn=True, last_bn=False,
                 last_bn_affine=True, activation="relu", synchronized_bn=False, output_bias=None, **kwargs):
        super().__init__(**kwargs)
        hidden_dims = tuple(hidden_dims) if isinstance(hidden_dims, (list, tuple)) else None
        if hidden_dims is None or not all(isinstance(d, int) and d > 0 for d in hidden_dims):
            raise ValueError(f"`hidden_dims` must be a sequence of positive ints; received {hidden_dims!r}")
        if not isinstance(output_dim, int) or output_dim <= 0:
            raise ValueError(f"`output_dim` must be a positive int; received output_dim={output_dim!r}")
        self.hidden_dims = hidden_dims
        self.output_dim = output_dim
        self.use_bn = use_bn
        self.last_bn = last_bn
        self.last_bn_affine = last_bn_affine
        self.activation = activation
        self.synchronized_bn = synchronized_bn
        if output_bias is not None and not isinstance(output_bias, bool):
            raise ValueError(f"`output_bias` must be None, True or False; received output_bias={output_bias!r}")
        self.output_bias = output_bias
        self._activation_fn = keras.activations.get(activation)

        self.hidden_layers = []
        for i, dim in enumerate(hidden_dims):
            dense = keras.layers.Dense(dim, use_bias=not use_bn, name=f"hidden{i + 1}_dense")
            norm = batch_norm(f"hidden{i + 1}_bn", synchronized=synchronized_bn) if use_bn else None
            self.hidden_layers.append((dense, norm))
        use_output_bias = (not last_bn) if output_bias is None else output_bias
        self.output_dense = keras.layers.Dense(output_dim, use_bias=use_output_bias, name="output_dense")
        self.output_bn = None
        if last_bn:
            self.output_bn = batch_norm("output_bn", synchronized=synchronized_bn,
                                        center=last_bn_affine, scale=last_bn_affine)

    def build(self, input_shape):
        shape = tuple(input_shape)
        for dense, norm in self.hidden_layers:
            dense.build(shape)
            shape = shape[:-1] + (dense.units,)
            if norm is not None:
                norm.build(shape)
        self.output_dense.build(shape)
        if self.output_bn is not None:
            self.output_bn.build(shape[:-1] + (self.output_dim,))

    def call(self, inputs, training=None):
        x = inputs
        for dense, norm in self.hidden_layers:
            x = dense(x)
            if norm is not None:
                x = norm(x, training=training)
            x = self._activation_fn(x)
        x = self.output_dense(x)
        if self.output_bn is not None:
            x = self.output_bn(x, training=training)
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (self.output_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            hidden_dims=list(self.hidden_dims), output_dim=self.output_dim, use_bn=self.use_bn,
            last_bn=self.last_bn, last_bn_affine=self.last_bn_affine,
            activation=self.activation, synchronized_bn=self.synchronized_bn, output_bias=self.output_bias,
        )
        return config


@keras.saving.register_keras_serializable(package="sslzoo")
class PredictionHead(ProjectionHead):
    """Predictor MLP of BYOL / SimSiam / MoCo v3: Linear -> BN -> act -> Linear.

    A `ProjectionHead` with one hidden layer of size `hidden_dim`.
    Call: (B, D) -> (B, output_dim).
    """

    def __init__(self, hidden_dim=4096, output_dim=256, use_bn=True, last_bn=False,
                 last_bn_affine=True, activation="relu", synchronized_bn=False, output_bias=None, **kwargs):
        super().__init__(hidden_dims=(hidden_dim,), output_dim=output_dim, use_bn=use_bn,
                         last_bn=last_bn, last_bn_affine=last_bn_affine, activation=activation,
                         synchronized_bn=synchronized_bn, output_bias=output_bias, **kwargs)

    def get_config(self):
        config = super().get_config()
        config["hidden_dim"] = config.pop("hidden_dims")[0]
        return config


@keras.saving.register_keras_serializable(package="sslzoo")
class Prototypes(keras.layers.Layer):
    """SwAV prototypes: scores = l2_normalize(z) @ W with unit-norm columns of W.

    W has shape (D, num_prototypes) and no bias. Its columns start at unit norm;
    gradient steps move them off the sphere, so the SwAV model re-normalises
    them after every optimizer step (main_swav.py does it before every forward
    pass: the same values reach each forward pass).

    Call: z (B, D) -> scores (B, num_prototypes), cosine similarities in [-1, 1].
    """

    def __init__(self, num_prototypes, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(num_prototypes, int) or num_prototypes <= 0:
            raise ValueError(f"`num_prototypes` must be a positive int; received {num_prototypes!r}")
        self.num_prototypes = num_prototypes

    def build(self, input_shape):
        # Every replica computes the same normalised values, so under a
        # tf.distribute strategy an assign in replica context keeps the first.
        self.kernel = self.add_weight(
            shape=(input_shape[-1], self.num_prototypes),
            initializer=self._unit_columns,
            aggregation="only_first_replica",
            name="kernel",
        )

    @staticmethod
    def _unit_columns(shape, dtype=None):
        w = keras.initializers.RandomNormal(stddev=1.0)(shape, dtype=dtype)
        return ops.normalize(w, axis=0)

    def call(self, inputs):
        return ops.matmul(ops.normalize(inputs, axis=-1), self.kernel)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (self.num_prototypes,)

    def get_config(self):
        config = super().get_config()
        config["num_prototypes"] = self.num_prototypes
        return config
