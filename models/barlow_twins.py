"""Barlow Twins (Zbontar et al. 2021): redundancy reduction of two views' embeddings."""
import keras

from sslzoo import heads, losses
from sslzoo.models.base import SSLModel, build_layer, serialize
from sslzoo.models.moco_v2 import TWO_VIEWS
from sslzoo.models.registry import register


@register("barlow_twins")
@keras.saving.register_keras_serializable(package="sslzoo")
class BarlowTwins(SSLModel):
    """Pushes the cross-correlation of two views' projections to the identity.

    Batches are `(view_1, view_2)`, each (B, S, S, 3). Each view goes through
    encoder and projector on its own, so every batch norm standardises each
    view's batch separately, as the official code does (barlowtwins main.py
    `forward`: `z1 = self.projector(self.backbone(y1))`, then the same for y2);
    with synchronized batch norm the statistics are each view's global batch.
    The loss is `scale_loss * (on_diagonal + lambd * off_diagonal)` of
    `sslzoo.losses.barlow_twins_terms(z_1, z_2)`, the cross-correlation computed
    over the global batch. Reports the on-diagonal (invariance) and off-diagonal
    (redundancy, before the lambda weight and the scale) terms.

    Args:
      encoder: `keras.Model`, images -> h (B, F).
      projector: layer h -> z (B, D). Default: 3-layer MLP of width 8192 (capped
        at 16 F) with BN + ReLU, and BN on the output, as in the paper.
      lambd: weight of the off-diagonal term (paper: 5e-3; main.py's default 0.0051).
      scale_loss: factor on the whole loss (1 in the paper and main.py; solo-learn's
        CIFAR config barlow.yaml uses 0.1). With SGD-type optimizers it acts like
        a factor on the learning rate of the gradient term (not on weight decay).
    """

    metric_names = ("loss", "on_diagonal", "off_diagonal")
    serialized_layers = ("encoder", "projector")
    batch_spec = TWO_VIEWS
    embedding_spaces = {"image": ("projection",)}

    def __init__(self, encoder, projector=None, lambd=5e-3, scale_loss=1.0, **kwargs):
        super().__init__(encoder, **kwargs)
        if lambd < 0:
            raise ValueError(f"`lambd` must be non-negative, got {lambd}")
        if not scale_loss > 0:
            raise ValueError(f"`scale_loss` must be positive, got {scale_loss}")
        self.lambd = float(lambd)
        self.scale_loss = float(scale_loss)
        width = min(8192, 16 * self.representation_dim)
        self.projector = projector or heads.ProjectionHead(
            hidden_dims=(width, width), output_dim=width, last_bn=True, last_bn_affine=False,
            synchronized_bn=True,
        )
        build_layer(self.projector, (None, self.representation_dim))
        self.built = True

    def compute_objective(self, batch, training):
        z_1, z_2 = (self.embed(view, space="projection", training=training) for view in batch)
        on_diagonal, off_diagonal = losses.barlow_twins_terms(z_1, z_2)
        loss = self.scale_loss * (on_diagonal + self.lambd * off_diagonal)
        return loss, {"on_diagonal": on_diagonal, "off_diagonal": off_diagonal}

    def get_config(self):
        return {**super().get_config(), "projector": serialize(self.projector), "lambd": self.lambd,
                "scale_loss": self.scale_loss}
