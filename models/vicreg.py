"""VICReg (Bardes, Ponce, LeCun 2022): variance-invariance-covariance regularisation."""
import keras
import tensorflow as tf

from sslzoo import heads, losses
from sslzoo.models.base import SSLModel, build_layer, serialize
from sslzoo.models.moco_v2 import TWO_VIEWS
from sslzoo.models.registry import register


@register("vicreg")
@keras.saving.register_keras_serializable(package="sslzoo")
class VICReg(SSLModel):
    """Invariance between the views' expander outputs, variance and covariance per view.

    Batches are `(view_1, view_2)`, each (B, S, S, 3), each view run alone
    through encoder and expander to z (B, D), so batch norm standardises each
    view's batch separately, as facebookresearch/vicreg main_vicreg.py
    (`joint_view_batch_norm=True` runs both as one batch of 2B instead). The loss is
    `sslzoo.losses.vicreg(z_1, z_2, invariance, variance, covariance, epsilon)`:
    the variance (std hinge at 1) and covariance terms are over the GLOBAL batch,
    their sums all-reduced across replicas and divided by the global count.

    Args:
      encoder: `keras.Model`, images -> h (B, F).
      expander: layer h -> z (B, D), or a dict of `ProjectionHead` arguments. Default: the paper's 3-layer MLP scaled to F:
        F -> E -> E -> E with E = min(8192, 16F), BN + ReLU on the hidden layers.
      invariance, variance, covariance: loss weights (25, 25, 1).
      epsilon: added to the variance before the square root (1e-4).
      joint_view_batch_norm: False runs each view alone (per-view batch
        statistics, the official code); True runs both views as one batch of
        2B, so every batch norm standardises them together (`vicreg_digits`
        chose it on the validation split).
    """

    metric_names = ("loss", "invariance", "variance", "covariance")
    serialized_layers = ("encoder", "expander")
    batch_spec = TWO_VIEWS
    embedding_spaces = {"image": ("projection",)}

    def __init__(self, encoder, expander=None, invariance=25.0, variance=25.0, covariance=1.0, epsilon=1e-4,
                 joint_view_batch_norm=False, **kwargs):
        super().__init__(encoder, **kwargs)
        for name, value in (("invariance", invariance), ("variance", variance), ("covariance", covariance)):
            if not value >= 0:
                raise ValueError(f"`{name}` must be a non-negative number, got {value!r}")
        if not epsilon > 0:
            raise ValueError(f"`epsilon` must be a positive number, got {epsilon!r}")
        self.invariance, self.variance, self.covariance = float(invariance), float(variance), float(covariance)
        self.epsilon = float(epsilon)
        self.joint_view_batch_norm = bool(joint_view_batch_norm)
        width = min(8192, 16 * self.representation_dim)
        if isinstance(expander, dict) and "class_name" not in expander:  # a preset's ProjectionHead arguments
            expander = heads.ProjectionHead(**{"synchronized_bn": True, **expander})
        self.expander = expander or heads.ProjectionHead(hidden_dims=(width, width), output_dim=width,
                                                         synchronized_bn=True)
        build_layer(self.expander, (None, self.representation_dim))
        self.built = True

    def project(self, features, modality="image", space="projection", training=False):
        """Features h (B, F) -> expander output z (B, D)."""
        if space != "projection":
            return super().project(features, modality, space, training)
        return self.expander(features, training=training)

    def compute_objective(self, batch, training):
        if self.joint_view_batch_norm:
            z_1, z_2 = tf.split(self.embed(tf.concat(batch, 0), space="projection", training=training), 2)
        else:
            z_1, z_2 = (self.embed(view, space="projection", training=training) for view in batch)
        term_i, term_v, term_c = losses.vicreg_terms(z_1, z_2, epsilon=self.epsilon)
        loss = self.invariance * term_i + self.variance * term_v + self.covariance * term_c
        return loss, {"invariance": term_i, "variance": term_v, "covariance": term_c}

    def get_config(self):
        return {**super().get_config(), "expander": serialize(self.expander), "invariance": self.invariance,
                "variance": self.variance, "covariance": self.covariance, "epsilon": self.epsilon,
                "joint_view_batch_norm": self.joint_view_batch_norm}
