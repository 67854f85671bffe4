"""Barlow Twins (Zbontar et al. 2021): redundancy reduction of two views' embeddings."""
import keras
import tensorflow as tf

from sslzoo import heads, losses
from sslzoo.models.base import SSLModel, build_layer, serialize
from sslzoo.models.moco_v2 import TWO_VIEWS
from sslzoo.models.registry import register


@register("barlow_twins")
@keras.saving.register_keras_serializable(package="sslzoo")
class BarlowTwins(SSLModel):
    """Pushes the cross-correlation of two views' projections to the identity.

    Batches are `(view_1, view_2)`, each (B, S, S, 3). Both views go through
    encoder and projector (one batch of 2B); the loss is
    `sslzoo.losses.barlow_twins(z_1, z_2, lambd)` with the cross-correlation
    computed over the global batch. Reports the on-diagonal (invariance) and
    off-diagonal (redundancy, before the lambda weight) terms.

    Args:
      encoder: `keras.Model`, images -> h (B, F).
      projector: layer h -> z (B, D). Default: 3-layer MLP of width 8192 (capped
        at 16 F) with BN + ReLU, and BN on the output, as in the paper.
      lambd: weight of the off-diagonal term (paper: 5e-3).
    """

    metric_names = ("loss", "on_diagonal", "off_diagonal")
    serialized_layers = ("encoder", "projector")
    batch_spec = TWO_VIEWS
    embedding_spaces = {"image": ("projection",)}

    def __init__(self, encoder, projector=None, lambd=5e-3, **kwargs):
        super().__init__(encoder, **kwargs)
        if lambd < 0:
            raise ValueError(f"`lambd` must be non-negative, got {lambd}")
        self.lambd = float(lambd)
        width = min(8192, 16 * self.representation_dim)
        self.projector = projector or heads.ProjectionHead(
            hidden_dims=(width, width), output_dim=width, last_bn=True, last_bn_affine=False,
            synchronized_bn=True,
        )
        build_layer(self.projector, (None, self.representation_dim))
        self.built = True

    def compute_objective(self, batch, training):
        view_1, view_2 = batch
        z_1, z_2 = tf.split(self.embed(tf.concat([view_1, view_2], 0), space="projection", training=training), 2)
        on_diagonal, off_diagonal = losses.barlow_twins_terms(z_1, z_2)
        loss = on_diagonal + self.lambd * off_diagonal
        return loss, {"on_diagonal": on_diagonal, "off_diagonal": off_diagonal}

    def get_config(self):
        return {**super().get_config(), "projector": serialize(self.projector), "lambd": self.lambd}
