"""SimCLR (Chen et al. 2020): two augmented views, projection head, NT-Xent."""
import keras
import tensorflow as tf

from sslzoo import heads, losses
from sslzoo.models.base import SSLModel, build_layer, serialize
from sslzoo.models.batch_spec import Tensor
from sslzoo.models.metrics import mean_cosine
from sslzoo.models.registry import register


@register("simclr")
@keras.saving.register_keras_serializable(package="sslzoo")
class SimCLR(SSLModel):
    """SimCLR: maximise agreement of two views' projections with NT-Xent.

    Batches are `(view_1, view_2)`, each (B, S, S, 3) float32 in [0, 1]. The two
    views go through the encoder as one batch of 2B (batch-norm statistics over
    both views, as in the reference code), then through the projection head g
    to z (B, D); the loss is `sslzoo.losses.nt_xent(z_1, z_2, temperature)`
    with negatives from the global batch.

    Args:
      encoder: `keras.Model`, images -> h (B, F).
      projector: layer h (B, F) -> z (B, D). Default: `ProjectionHead` with one
        hidden layer of width F and output 128 (SimCLR v1).
      temperature: NT-Xent temperature.
    """

    metric_names = ("loss", "positive_cosine")
    serialized_layers = ("encoder", "projector")
    batch_spec = (Tensor(4, layout="(B, S, S, 3)"), Tensor(4, layout="(B, S, S, 3)"))
    embedding_spaces = {"image": ("projection",)}

    def __init__(self, encoder, projector=None, temperature=0.1, **kwargs):
        super().__init__(encoder, **kwargs)
        if temperature <= 0:
            raise ValueError(f"`temperature` must be positive, got {temperature}")
        self.temperature = float(temperature)
        self.projector = projector or heads.ProjectionHead(
            hidden_dims=(self.representation_dim,), output_dim=128, synchronized_bn=True
        )
        build_layer(self.projector, (None, self.representation_dim))
        self.built = True

    def compute_objective(self, batch, training):
        view_1, view_2 = batch
        z_1, z_2 = tf.split(self.embed(tf.concat([view_1, view_2], 0), space="projection", training=training), 2)
        loss = losses.nt_xent(z_1, z_2, temperature=self.temperature)
        return loss, {"positive_cosine": mean_cosine(z_1, z_2)}

    def get_config(self):
        return {
            **super().get_config(),
            "projector": serialize(self.projector),
            "temperature": self.temperature,
        }
