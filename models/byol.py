"""BYOL (Grill et al. 2020): an online network predicts an EMA target network's projection."""
import keras
import tensorflow as tf

from sslzoo import heads, losses
from sslzoo.models.base import build_layer, serialize
from sslzoo.models.momentum import MomentumSSLModel
from sslzoo.models.metrics import mean_cosine
from sslzoo.models.moco_v2 import TWO_VIEWS
from sslzoo.models.registry import register


@register("byol")
@keras.saving.register_keras_serializable(package="sslzoo")
class BYOL(MomentumSSLModel):
    """Online encoder + projector + predictor against an EMA target encoder + projector.

    Batches are `(view_1, view_2)`, each (B, S, S, 3). Each view runs through the
    online network alone, p = q(g(f(x))) (B, D), so batch norm standardises each
    view's batch separately, as the official code (one forward per view); the
    target network (frozen copies of f and g, moved by momentum after every step)
    gives z' = g'(f'(x)) (B, D) with its gradient stopped. The loss is symmetric:
    `byol_loss(p_1, z'_2) + byol_loss(p_2, z'_1)`, each `2 - 2 cos`. The target
    momentum tau rises from `momentum` (0.996) to 1 on a half-cosine over
    `momentum_schedule_steps` (recipes set it to the run's total steps).

    Args:
      encoder: `keras.Model`, images -> h (B, F).
      projector: layer h -> z (B, D). Default: the paper's MLP scaled to F:
        F -> min(4096, 8F) (BN, ReLU) -> min(256, F).
      predictor: layer z -> p (B, D). Default: D -> min(4096, 8F) (BN, ReLU) -> D.
      momentum: tau_0 (paper 0.996).
      momentum_schedule_steps: T of the cosine schedule; None keeps tau_0.
    """

    metric_names = ("loss", "positive_cosine", "momentum")
    serialized_layers = ("encoder", "projector", "predictor")
    batch_spec = TWO_VIEWS
    embedding_spaces = {"image": ("projection",)}

    def __init__(self, encoder, projector=None, predictor=None, momentum=0.996, momentum_schedule_steps=None,
                 **kwargs):
        super().__init__(encoder, momentum=momentum, momentum_schedule_steps=momentum_schedule_steps, **kwargs)
        feature_dim = self.representation_dim
        hidden = min(4096, 8 * feature_dim)
        self.projector = projector or heads.ProjectionHead(
            hidden_dims=(hidden,), output_dim=min(256, feature_dim), synchronized_bn=True)
        embedding_dim = build_layer(self.projector, (None, feature_dim))[-1]
        self.predictor = predictor or heads.PredictionHead(hidden_dim=hidden, output_dim=embedding_dim,
                                                           synchronized_bn=True)
        build_layer(self.predictor, (None, embedding_dim))
        self.target_encoder = self.teacher(self.encoder, self.encoder.input_shape)
        self.target_projector = self.teacher(self.projector, (None, feature_dim))
        self.built = True

    def _online(self, images, training):
        """Predictor(projector(encoder(images))): (B, D), one view's batch."""
        z = self.projector(self.encoder(images, training=training), training=training)
        return self.predictor(z, training=training)

    def _target(self, images, training):
        """The target branch on one view's batch: (B, D), no gradient."""
        return tf.stop_gradient(
            self.target_projector(self.target_encoder(images, training=training), training=training))

    def compute_objective(self, batch, training):
        p_1, p_2 = (self._online(view, training) for view in batch)
        t_1, t_2 = (self._target(view, training) for view in batch)
        loss = losses.byol_loss(p_1, t_2) + losses.byol_loss(p_2, t_1)
        return loss, {"positive_cosine": mean_cosine(p_1, t_2), "momentum": self.current_momentum()}

    def get_config(self):
        return {**super().get_config(), "projector": serialize(self.projector),
                "predictor": serialize(self.predictor)}
