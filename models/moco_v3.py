"""MoCo v3 (Chen, Xie, He 2021): momentum contrast against the keys of the global batch."""
import keras
import tensorflow as tf

from sslzoo import heads, losses
from sslzoo.models.base import build_layer, serialize
from sslzoo.models.momentum import MomentumSSLModel
from sslzoo.models.metrics import mean_cosine
from sslzoo.models.moco_v2 import TWO_VIEWS
from sslzoo.models.registry import register


@register("moco_v3")
@keras.saving.register_keras_serializable(package="sslzoo")
class MoCoV3(MomentumSSLModel):
    """Query encoder + projector + predictor against a momentum key encoder + projector.

    Batches are `(view_1, view_2)`, each (B, S, S, 3). Each view runs through
    each branch on its own, so every batch norm (encoder, projector, predictor)
    standardises each view's batch separately, as the official code does
    (moco-v3 moco/builder.py `forward`: `q1 = self.predictor(self.base_encoder(x1))`,
    `q2 = ...(x2)`, `k1 = self.momentum_encoder(x1)`, `k2 = ...(x2)`); with
    synchronized batch norm the statistics are each view's global batch. No
    queue: each query is contrasted with the keys of the global batch (gathered
    from every replica), symmetrised, each term multiplied by 2 x temperature
    as in builder.py's `contrastive_loss`:
    `2 tau [info_nce(q_1, k_2) + info_nce(q_2, k_1)]`. The momentum rises from m0
    to 1 on a half-cosine over `momentum_schedule_steps` (the paper's
    `--moco-m-cos`; recipes set it to the training's total steps).

    Args:
      encoder: `keras.Model`, images -> h (B, F).
      projector: layer h -> z (B, D). Default: the official ResNet projector
        (builder.py `MoCo_ResNet`: `_build_mlp(2, F, 4096, 256)`) scaled to F:
        F -> 4096 (capped at 8F) -> 256 (capped at F), BN + ReLU after the hidden
        layer, BN without affine on the output, no Linear biases.
      predictor: layer z -> q (B, D). Default: the official ResNet predictor
        (`_build_mlp(2, 256, 4096, 256, False)`): D -> 4096 (capped at 8F) -> D with
        BN + ReLU after the hidden layer, no BN on the output, no Linear biases.
      temperature: tau (1.0 in the paper for ResNet-50, 0.2 for ViT).
      momentum: m0 (0.99).
      momentum_schedule_steps: T of the cosine schedule; None keeps m0.
    """

    metric_names = ("loss", "positive_cosine", "momentum")
    serialized_layers = ("encoder", "projector", "predictor")
    batch_spec = TWO_VIEWS
    embedding_spaces = {"image": ("projection",)}

    def __init__(self, encoder, projector=None, predictor=None, temperature=1.0, momentum=0.99,
                 momentum_schedule_steps=None, **kwargs):
        super().__init__(encoder, momentum=momentum, momentum_schedule_steps=momentum_schedule_steps, **kwargs)
        if temperature <= 0:
            raise ValueError(f"`temperature` must be positive, got {temperature}")
        self.temperature = float(temperature)
        feature_dim = self.representation_dim
        hidden = min(4096, 8 * feature_dim)
        self.projector = projector or heads.ProjectionHead(
            hidden_dims=(hidden,), output_dim=min(256, feature_dim), last_bn=True, last_bn_affine=False,
            synchronized_bn=True)
        embedding_dim = build_layer(self.projector, (None, feature_dim))[-1]
        self.predictor = predictor or heads.PredictionHead(hidden_dim=hidden, output_dim=embedding_dim,
                                                           synchronized_bn=True, output_bias=False)
        build_layer(self.predictor, (None, embedding_dim))
        self.key_encoder = self.teacher(self.encoder, self.encoder.input_shape)
        self.key_projector = self.teacher(self.projector, (None, feature_dim))
        self.built = True

    def _query(self, images, training):
        """Predictor(projector(encoder(images))): (B, D), one view's batch."""
        z = self.projector(self.encoder(images, training=training), training=training)
        return self.predictor(z, training=training)

    def _key(self, images, training):
        """The momentum branch on one view's batch: (B, D), no gradient."""
        return tf.stop_gradient(self.key_projector(self.key_encoder(images, training=training), training=training))

    def compute_objective(self, batch, training):
        q_1, q_2 = (self._query(view, training) for view in batch)
        k_1, k_2 = (self._key(view, training) for view in batch)
        loss = (losses.info_nce(q_1, k_2, temperature=self.temperature)
                + losses.info_nce(q_2, k_1, temperature=self.temperature)) * (2.0 * self.temperature)
        return loss, {"positive_cosine": mean_cosine(q_1, k_2), "momentum": self.current_momentum()}

    def get_config(self):
        return {**super().get_config(), "projector": serialize(self.projector),
                "predictor": serialize(self.predictor), "temperature": self.temperature}
