"""MoCo v2 (Chen et al. 2020) and v3 (Chen, Xie, He 2021): momentum contrast."""
import math

import keras
import tensorflow as tf

from sslzoo import heads, losses, replica
from sslzoo.models.base import SSLModel, build_layer, serialize
from sslzoo.models.metrics import mean_cosine


def clone_frozen(layer, input_shape):
    """A copy of `layer` with the same weights, built, whose variables no optimizer trains.

    The layers themselves stay trainable: a Keras layer with `trainable=False`
    runs batch norm in inference mode, with moving statistics nobody updates,
    whereas MoCo's key encoder normalises with the batch's statistics. Only each
    variable's `trainable` flag is cleared, so `model.trainable_variables` and
    the optimizer never see them; `MoCo` moves them by momentum updates.
    """
    if isinstance(layer, keras.Model) and getattr(layer, "_is_graph_network", False):
        twin = keras.models.clone_model(layer)
    else:
        twin = layer.__class__.from_config(layer.get_config())
        build_layer(twin, input_shape)
    twin.set_weights(layer.get_weights())
    for variable in twin.variables:
        variable.trainable = False
    return twin


@keras.saving.register_keras_serializable(package="sslzoo")
class MoCo(SSLModel):
    """Momentum contrast: a query encoder trained against a momentum key encoder.

    Batches are `(view_1, view_2)`, each (B, S, S, 3). The query branch is
    `encoder` + `projector` (+ `predictor` in v3); the key branch is a copy of
    encoder + projector that the optimizer never touches, updated after each
    step as `theta_k <- m * theta_k + (1 - m) * theta_q`.

    - `version=2`: InfoNCE of q(view_1) against k(view_2) and a queue of
      `queue_size` past keys (`sslzoo.losses.info_nce(q, k, queue)`); the keys of
      the global batch are gathered from all replicas and enqueued, so every
      replica holds the same queue. `queue_size` must divide by the global batch.
      With `symmetric=True`, the mirrored term (q(view_2), k(view_1)) is added.
    - `version=3`: no queue; symmetrised InfoNCE against the keys of the global
      batch, predictor MLP on the query side, each term multiplied by
      2*temperature as in the paper, momentum raised towards 1 on a half-cosine over
      `momentum_schedule_steps` (if given).

    Args:
      encoder: `keras.Model`, images -> h (B, F).
      projector: layer h -> z (B, D). Default: v2 a 2-layer MLP (F -> F -> 128,
        no BN); v3 a 3-layer MLP with BN (F -> 4096 -> 4096 -> 256, scaled down
        with F when F < 512).
      predictor: v3 only; layer z -> q (B, D). Default: 2-layer MLP with BN.
      version: 2 or 3.
      temperature: InfoNCE temperature (v2 default 0.2, v3 default 1.0).
      momentum: base momentum m (v2 0.999, v3 0.99).
      queue_size: v2 only, number of keys kept.
      momentum_schedule_steps: v3: steps over which m rises to 1 (None: constant).
    """

    metric_names = ("loss", "positive_cosine", "momentum")
    serialized_layers = ("encoder", "projector", "predictor")

    def __init__(self, encoder, projector=None, predictor=None, version=2, temperature=None,
                 momentum=None, queue_size=65536, symmetric=False, momentum_schedule_steps=None,
                 **kwargs):
        super().__init__(encoder, **kwargs)
        if version not in (2, 3):
            raise ValueError(f"`version` must be 2 or 3, got {version!r}")
        self.version = version
        self.temperature = float(temperature if temperature is not None else (0.2 if version == 2 else 1.0))
        self.momentum = float(momentum if momentum is not None else (0.999 if version == 2 else 0.99))
        if self.temperature <= 0:
            raise ValueError(f"`temperature` must be positive, got {self.temperature}")
        if not 0.0 <= self.momentum <= 1.0:
            raise ValueError(f"`momentum` must be in [0, 1], got {self.momentum}")
        self.queue_size = int(queue_size)
        self.symmetric = bool(symmetric) or version == 3
        self.momentum_schedule_steps = momentum_schedule_steps

        feature_dim = self.representation_dim
        self.projector = projector or _default_projector(version, feature_dim)
        embedding_dim = build_layer(self.projector, (None, feature_dim))[-1]
        self.predictor = None
        if version == 3:
            self.predictor = predictor or heads.PredictionHead(
                hidden_dim=min(4096, 8 * embedding_dim), output_dim=embedding_dim, synchronized_bn=True
            )
            build_layer(self.predictor, (None, embedding_dim))
        elif predictor is not None:
            raise ValueError("`predictor` is only used by MoCo v3 (version=3)")

        self.key_encoder = clone_frozen(self.encoder, self.encoder.input_shape)
        self.key_projector = clone_frozen(self.projector, (None, feature_dim))
        self.queue = None
        if version == 2:
            if self.queue_size < 1:
                raise ValueError(f"`queue_size` must be positive, got {self.queue_size}")
            initial = tf.math.l2_normalize(tf.random.normal((self.queue_size, embedding_dim)), axis=1)
            self.queue = self.add_weight(
                shape=(self.queue_size, embedding_dim), initializer=keras.initializers.Constant(initial.numpy()),
                trainable=False, name="queue",
            )
            self.queue_pointer = self.add_weight(
                shape=(), dtype="int32", initializer="zeros", trainable=False, name="queue_pointer"
            )
        self.built = True

    # ----------------------------------------------------------------- pieces
    def _query(self, images, training):
        z = self.projector(self.encoder(images, training=training), training=training)
        return z if self.predictor is None else self.predictor(z, training=training)

    def _key(self, images, training):
        k = self.key_projector(self.key_encoder(images, training=training), training=training)
        return tf.stop_gradient(k)

    def current_momentum(self):
        """m for this step: constant (v2) or `1 - (1 - m0) * (cos(pi t / T) + 1) / 2` (v3)."""
        if not self.momentum_schedule_steps:
            return tf.constant(self.momentum, tf.float32)
        progress = tf.minimum(
            tf.cast(self.optimizer.iterations, tf.float32) / float(self.momentum_schedule_steps), 1.0
        )
        return 1.0 - (1.0 - self.momentum) * (tf.cos(math.pi * progress) + 1.0) / 2.0

    def compute_objective(self, data, training):
        view_1, view_2 = data
        if self.symmetric:
            q_1, q_2 = tf.split(self._query(tf.concat([view_1, view_2], 0), training), 2)
            k_1, k_2 = tf.split(self._key(tf.concat([view_1, view_2], 0), training), 2)
        else:  # v2 with one term, q(view_1) against k(view_2): the mirrored pair is never needed
            q_1, k_2 = self._query(view_1, training), self._key(view_2, training)
        if self.version == 2:
            queue = tf.stop_gradient(tf.convert_to_tensor(self.queue))
            loss = losses.info_nce(q_1, k_2, queue=queue, temperature=self.temperature)
            if self.symmetric:
                loss = 0.5 * (loss + losses.info_nce(q_2, k_1, queue=queue, temperature=self.temperature))
        else:
            loss = (losses.info_nce(q_1, k_2, temperature=self.temperature)
                    + losses.info_nce(q_2, k_1, temperature=self.temperature)) * (2.0 * self.temperature)
        return {
            "loss": loss,
            "positive_cosine": mean_cosine(q_1, k_2),
            "momentum": self.current_momentum(),
            "keys": k_2,
        }

    # -------------------------------------------------------- after the step
    def after_train_step(self, data, results):
        momentum = results["momentum"]
        self._momentum_update(self.encoder, self.key_encoder, momentum)
        self._momentum_update(self.projector, self.key_projector, momentum)
        if self.version == 2:
            self._enqueue(results["keys"])

    @staticmethod
    def _momentum_update(online, target, momentum):
        """theta_k <- m theta_k + (1 - m) theta_q for every trainable weight of `online`."""
        pairs = [(t, o) for o, t in zip(online.variables, target.variables) if o.trainable]
        values = []
        for t, o in pairs:
            m = tf.cast(momentum, t.dtype)
            values.append(m * tf.convert_to_tensor(t) + (1.0 - m) * tf.convert_to_tensor(o))
        replica.assign([t for t, _ in pairs], values)

    def _enqueue(self, keys):
        """Writes the global batch's keys (gathered from every replica) into the queue."""
        keys = tf.cast(tf.math.l2_normalize(replica.all_gather(keys), axis=1), self.queue.dtype)
        global_batch = keys.shape[0]
        if global_batch is not None and self.queue_size % global_batch:
            raise ValueError(
                f"MoCo `queue_size` ({self.queue_size}) must be divisible by the global batch "
                f"({global_batch}); use drop_remainder=True and a batch that divides it."
            )
        pointer = tf.convert_to_tensor(self.queue_pointer)
        new_queue = tf.tensor_scatter_nd_update(
            tf.convert_to_tensor(self.queue),
            (pointer + tf.range(tf.shape(keys)[0]))[:, None],
            keys,
        )
        new_pointer = (pointer + tf.shape(keys)[0]) % self.queue_size
        replica.assign([self.queue, self.queue_pointer], [new_queue, new_pointer])

    def get_config(self):
        return {
            **super().get_config(),
            "projector": serialize(self.projector),
            "predictor": serialize(self.predictor),
            "version": self.version,
            "temperature": self.temperature,
            "momentum": self.momentum,
            "queue_size": self.queue_size,
            "symmetric": self.symmetric,
            "momentum_schedule_steps": self.momentum_schedule_steps,
        }


def _default_projector(version, feature_dim):
    if version == 2:
        return heads.ProjectionHead(hidden_dims=(feature_dim,), output_dim=128, use_bn=False)
    hidden = min(4096, 8 * feature_dim)
    return heads.ProjectionHead(hidden_dims=(hidden, hidden), output_dim=min(256, feature_dim), last_bn=True,
                                last_bn_affine=False, synchronized_bn=True)
