"""MoCo v2 (Chen, Fan, Girshick, He 2020): momentum contrast with a queue of keys."""
import keras
import tensorflow as tf

from sslzoo import heads, losses, replica
from sslzoo.models.base import build_layer, serialize
from sslzoo.models.momentum import MomentumSSLModel
from sslzoo.models.batch_spec import Tensor
from sslzoo.models.metrics import mean_cosine
from sslzoo.models.registry import register

TWO_VIEWS = (Tensor(4, layout="(B, S, S, 3)"), Tensor(4, layout="(B, S, S, 3)"))


@register("moco_v2")
@keras.saving.register_keras_serializable(package="sslzoo")
class MoCoV2(MomentumSSLModel):
    """A query encoder trained against a momentum key encoder and a queue of past keys.

    Batches are `(view_1, view_2)`, each (B, S, S, 3) float in [0, 1]. The query
    branch is `encoder` + `projector`; the key branch is a momentum copy of both
    (`theta_k <- m theta_k + (1 - m) theta_q`, m constant as in the paper). The
    loss is InfoNCE of q(view_1) against k(view_2) and `queue_size` past keys
    (`sslzoo.losses.info_nce(q, k, queue)`), the asymmetric loss of the paper and
    of facebookresearch/moco (moco/builder.py: one `_dequeue_and_enqueue(k)` per
    step).

    `symmetric=True` follows the symmetric option of the official CIFAR-10 demo
    (facebookresearch/moco colab/moco_cifar10_demo.ipynb, `ModelMoCo.forward`):
    the mirrored pair (q(view_2), k(view_1)) is added, both terms are computed
    against the same queue (the state before this step), and the keys of both
    views are enqueued once, after the step, `k = cat([k1, k2])`: one shared
    queue that grows by 2B keys per step. The one difference: the demo sums the
    two terms (`loss_12 + loss_21`); this model takes their mean, as solo-learn's
    mocov2plus (whose CIFAR recipe the `moco_v2_cifar10` preset cites), so the
    logged value is comparable with the asymmetric loss (without weight decay,
    SGD on the sum is SGD on the mean at twice the learning rate).
    solo-learn instead keeps one queue per view; the demo's single queue is
    kept here because it is the official code. Each view runs through each
    branch on its own (as the demo's two `contrastive_loss` calls), so batch
    norm sees each view's batch separately.

    The keys of the global batch are gathered from every replica before they
    are enqueued, so every replica holds the same queue; `queue_size` must
    divide by the keys enqueued per step.

    Batch norm: synchronized over the global batch in both branches (as SimCLR
    and MoCo v3), not MoCo v1/v2's shuffling BN. Shuffling BN keeps a replica's
    keys from sharing batch statistics with its queries; with global statistics
    a sample is one of NB in its statistics, and the split stays exact with no
    cross-replica permutation of the key batch.

    Args:
      encoder: `keras.Model`, images -> h (B, F).
      projector: layer h -> z (B, D). Default: MLP F -> F -> 128 without BN (MoCo v2).
      temperature: InfoNCE temperature (0.2).
      momentum: m (0.999).
      queue_size: number of keys kept (65536).
      symmetric: add the mirrored term.
      momentum_schedule_steps: None keeps m constant (the paper); else cosine to 1.
    """

    metric_names = ("loss", "positive_cosine", "momentum")
    serialized_layers = ("encoder", "projector")
    batch_spec = TWO_VIEWS
    cosine_momentum_by_default = False

    def __init__(self, encoder, projector=None, temperature=0.2, momentum=0.999, queue_size=65536,
                 symmetric=False, momentum_schedule_steps=None, **kwargs):
        super().__init__(encoder, momentum=momentum, momentum_schedule_steps=momentum_schedule_steps, **kwargs)
        if temperature <= 0:
            raise ValueError(f"`temperature` must be positive, got {temperature}")
        if int(queue_size) < 1:
            raise ValueError(f"`queue_size` must be positive, got {queue_size}")
        self.temperature = float(temperature)
        self.queue_size = int(queue_size)
        self.symmetric = bool(symmetric)
        feature_dim = self.representation_dim
        self.projector = projector or heads.ProjectionHead(hidden_dims=(feature_dim,), output_dim=128, use_bn=False)
        embedding_dim = build_layer(self.projector, (None, feature_dim))[-1]
        self.key_encoder = self.teacher(self.encoder, self.encoder.input_shape)
        self.key_projector = self.teacher(self.projector, (None, feature_dim))
        initial = tf.math.l2_normalize(tf.random.normal((self.queue_size, embedding_dim)), axis=1)
        self.queue = self.add_weight(shape=(self.queue_size, embedding_dim),
                                     initializer=keras.initializers.Constant(initial.numpy()),
                                     trainable=False, name="queue")
        self.queue_pointer = self.add_weight(shape=(), dtype="int32", initializer="zeros", trainable=False,
                                             name="queue_pointer")
        self.built = True

    embedding_spaces = {"image": ("projection",)}

    def _query(self, images, training):
        return self.projector(self.encoder(images, training=training), training=training)

    def _key(self, images, training):
        return tf.stop_gradient(self.key_projector(self.key_encoder(images, training=training), training=training))

    def compute_objective(self, batch, training):
        view_1, view_2 = batch
        queue = tf.stop_gradient(tf.convert_to_tensor(self.queue))
        if self.symmetric:
            q_1, q_2 = self._query(view_1, training), self._query(view_2, training)
            k_1, k_2 = self._key(view_1, training), self._key(view_2, training)
            loss = 0.5 * (losses.info_nce(q_1, k_2, queue=queue, temperature=self.temperature)
                          + losses.info_nce(q_2, k_1, queue=queue, temperature=self.temperature))
            keys = tf.concat([k_1, k_2], 0)  # the demo's `torch.cat([k1, k2], dim=0)`
        else:  # one term, q(view_1) against k(view_2): the mirrored pair is never computed
            q_1, k_2 = self._query(view_1, training), self._key(view_2, training)
            loss = losses.info_nce(q_1, k_2, queue=queue, temperature=self.temperature)
            keys = k_2
        return loss, {"positive_cosine": mean_cosine(q_1, k_2), "momentum": self.current_momentum(), "keys": keys}

    def after_train_step(self, batch, outputs):
        super().after_train_step(batch, outputs)
        self._enqueue(outputs["keys"])

    def _enqueue(self, keys):
        """Writes the global batch's keys (gathered from every replica) into the queue."""
        keys = tf.cast(tf.math.l2_normalize(replica.all_gather(keys), axis=1), self.queue.dtype)
        count = keys.shape[0]
        if count is not None and self.queue_size % count:
            raise ValueError(
                f"MoCoV2 `queue_size` ({self.queue_size}) must be divisible by the keys enqueued per step "
                f"({count}: the global batch{', twice when symmetric' if self.symmetric else ''}); use "
                "drop_remainder=True and a batch that divides it.")
        pointer = tf.convert_to_tensor(self.queue_pointer)
        new_queue = tf.tensor_scatter_nd_update(tf.convert_to_tensor(self.queue),
                                                (pointer + tf.range(tf.shape(keys)[0]))[:, None], keys)
        replica.assign([self.queue, self.queue_pointer],
                       [new_queue, (pointer + tf.shape(keys)[0]) % self.queue_size])

    def get_config(self):
        return {**super().get_config(), "projector": serialize(self.projector), "temperature": self.temperature,
                "queue_size": self.queue_size, "symmetric": self.symmetric}
