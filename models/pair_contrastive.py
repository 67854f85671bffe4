"""Siamese pairs with the margin-based contrastive loss (Hadsell, Chopra, LeCun 2006)."""
import keras
import tensorflow as tf

from sslzoo import losses
from sslzoo.models.base import SSLModel, build_layer, serialize
from sslzoo.models.batch_spec import Tensor
from sslzoo.models.registry import register


@register("pair_contrastive")
@keras.saving.register_keras_serializable(package="sslzoo")
class PairContrastive(SSLModel):
    """Pulls similar pairs together and pushes dissimilar pairs beyond a margin.

    Batches are `((x_1, x_2), similar)`: two images (B, S, S, 3) and a (B,)
    label, 1 for a similar pair and 0 otherwise. Both images go through the
    same (siamese) encoder and optional projector; the loss is
    `sslzoo.losses.margin_contrastive(e_1, e_2, similar, margin)`.

    Args:
      encoder: `keras.Model`, images -> h (B, F).
      projector: optional layer h -> e (B, D) in which distances are measured.
      margin: distance beyond which dissimilar pairs cost nothing.
    """

    metric_names = ("loss", "pair_accuracy")
    serialized_layers = ("encoder", "projector")
    batch_spec = ((Tensor(4, layout="(B, S, S, 3)"), Tensor(4, layout="(B, S, S, 3)")),
                  Tensor(1, kind="numeric", layout="(B,) similar"))
    default_augment = "pairs"

    def __init__(self, encoder, projector=None, margin=1.0, **kwargs):
        super().__init__(encoder, **kwargs)
        if margin <= 0:
            raise ValueError(f"`margin` must be positive, got {margin}")
        self.margin = float(margin)
        self.projector = projector
        if projector is not None:
            build_layer(projector, (None, self.representation_dim))
        self.built = True

    @property
    def embedding_spaces(self):
        return {"image": ("projection",)} if self.projector is not None else {}

    def compute_objective(self, batch, training):
        (x_1, x_2), similar = batch
        space = "projection" if self.projector is not None else "features"
        e_1, e_2 = tf.split(self.embed(tf.concat([x_1, x_2], 0), space=space, training=training), 2)
        similar = tf.cast(tf.reshape(similar, [-1]), tf.float32)
        loss = losses.margin_contrastive(e_1, e_2, similar, margin=self.margin)
        distance = tf.norm(tf.cast(e_1 - e_2, tf.float32), axis=-1)
        predicted_similar = tf.cast(distance < self.margin / 2, tf.float32)
        accuracy = tf.reduce_mean(tf.cast(tf.equal(predicted_similar, similar), tf.float32))
        return loss, {"pair_accuracy": accuracy}

    def get_config(self):
        return {**super().get_config(), "projector": serialize(self.projector), "margin": self.margin}
