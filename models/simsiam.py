"""SimSiam (Chen & He 2021): a shared encoder, a predictor and a stop-gradient, no momentum."""
import keras
import tensorflow as tf

from sslzoo import heads, losses
from sslzoo.models.base import SSLModel, build_layer, serialize
from sslzoo.models.metrics import mean_cosine
from sslzoo.models.moco_v2 import TWO_VIEWS
from sslzoo.models.registry import register


@register("simsiam")
@keras.saving.register_keras_serializable(package="sslzoo")
class SimSiam(SSLModel):
    """Symmetric negative cosine between one view's prediction and the other's projection.

    Batches are `(view_1, view_2)`, each (B, S, S, 3), each view run alone (batch
    norm standardises each view's batch separately, as simsiam/builder.py's one
    forward per view). z = g(f(x)) (B, D), p = q(z) (B, D), and the loss is
    `(simsiam_loss(p_1, sg(z_2)) + simsiam_loss(p_2, sg(z_1))) / 2` with sg the
    stop-gradient (the paper's D(p, stopgrad(z))), in [-1, 1].

    Args:
      encoder: `keras.Model`, images -> h (B, F).
      projector: layer h -> z (B, D). Default: the paper's 3-layer MLP scaled to F:
        F -> D -> D -> D with D = min(2048, 4F), BN after each, the last BN without affine.
      predictor: layer z -> p (B, D). Default: bottleneck D -> D/4 (BN, ReLU) -> D
        (paper 2048 -> 512 -> 2048).
    """

    metric_names = ("loss", "positive_cosine")
    serialized_layers = ("encoder", "projector", "predictor")
    batch_spec = TWO_VIEWS
    embedding_spaces = {"image": ("projection",)}

    def __init__(self, encoder, projector=None, predictor=None, **kwargs):
        super().__init__(encoder, **kwargs)
        feature_dim = self.representation_dim
        dim = min(2048, 4 * feature_dim)
        self.projector = projector or heads.ProjectionHead(
            hidden_dims=(dim, dim), output_dim=dim, last_bn=True, last_bn_affine=False, synchronized_bn=True)
        embedding_dim = build_layer(self.projector, (None, feature_dim))[-1]
        self.predictor = predictor or heads.PredictionHead(
            hidden_dim=max(1, embedding_dim // 4), output_dim=embedding_dim, synchronized_bn=True)
        build_layer(self.predictor, (None, embedding_dim))
        self.built = True

    def compute_objective(self, batch, training):
        z_1, z_2 = (self.projector(self.encoder(view, training=training), training=training) for view in batch)
        p_1, p_2 = self.predictor(z_1, training=training), self.predictor(z_2, training=training)
        z_1, z_2 = tf.stop_gradient(z_1), tf.stop_gradient(z_2)
        loss = (losses.simsiam_loss(p_1, z_2) + losses.simsiam_loss(p_2, z_1)) / 2.0
        return loss, {"positive_cosine": mean_cosine(p_1, z_2)}

    def get_config(self):
        return {**super().get_config(), "projector": serialize(self.projector),
                "predictor": serialize(self.predictor)}
