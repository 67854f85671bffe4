"""SwAV (Caron et al. 2020): swapped prediction of Sinkhorn codes over multi-crop views."""
import keras
import tensorflow as tf

from sslzoo import heads, losses, replica
from sslzoo.models.base import SSLModel, build_layer, serialize
from sslzoo.models.metrics import code_entropy


@keras.saving.register_keras_serializable(package="sslzoo")
class SwAV(SSLModel):
    """Predicts the Sinkhorn code of one crop from the other crops.

    Batches are a tuple of crops, global crops first, each (B, S_i, S_i, 3)
    (`sslzoo.augment.MultiCrop`). Crops of the same size go through the
    encoder together; every crop's projection z is scored against unit-norm
    prototypes; the loss is `sslzoo.losses.swav(scores, num_global, ...)`, with
    Sinkhorn sums over the global batch in float32. Prototypes are re-normalised
    after every step and kept frozen for the first `freeze_prototypes_steps`
    optimizer steps (the paper freezes them for the first epoch). Crops of a size
    other than the encoder's input need an encoder built for any size
    (`input_shape=(None, None, 3)`).

    Args:
      encoder: `keras.Model`, images -> h (B, F).
      projector: layer h -> z (B, D). Default: MLP F -> 2048 (capped at 4F) -> 128.
      num_prototypes: K (paper: 3000 on ImageNet).
      num_global: number of leading global crops that get codes.
      temperature, epsilon, sinkhorn_iterations: as in `sslzoo.losses.swav`.
      freeze_prototypes_steps: optimizer steps during which the prototypes do not move.
    """

    metric_names = ("loss", "code_entropy")
    serialized_layers = ("encoder", "projector")

    def __init__(self, encoder, projector=None, num_prototypes=3000, num_global=2, temperature=0.1,
                 epsilon=0.05, sinkhorn_iterations=3, freeze_prototypes_steps=0, **kwargs):
        super().__init__(encoder, **kwargs)
        self.num_prototypes = int(num_prototypes)
        self.num_global = int(num_global)
        self.temperature = float(temperature)
        self.epsilon = float(epsilon)
        self.sinkhorn_iterations = int(sinkhorn_iterations)
        self.freeze_prototypes_steps = int(freeze_prototypes_steps)
        self.projector = projector or heads.ProjectionHead(
            hidden_dims=(min(2048, 4 * self.representation_dim),), output_dim=128, synchronized_bn=True
        )
        embedding_dim = build_layer(self.projector, (None, self.representation_dim))[-1]
        self.prototypes = heads.Prototypes(self.num_prototypes, name="prototypes")
        build_layer(self.prototypes, (None, embedding_dim))
        self.built = True

    def _scores(self, crops, training):
        """Prototype scores per crop: list of (B, K), running same-size crops as one batch."""
        groups, start = [], 0
        while start < len(crops):
            end = start + 1
            while end < len(crops) and crops[end].shape[1:] == crops[start].shape[1:]:
                end += 1
            groups.append((start, end))
            start = end
        scores = []
        for start, end in groups:
            self._check_crop_size(crops[start], start)
            h = self.encoder(tf.concat(crops[start:end], 0), training=training)
            scores.extend(tf.split(self.prototypes(self.projector(h, training=training)), end - start))
        return scores

    def _check_crop_size(self, crop, index):
        expected = tuple(self.encoder.input_shape[1:3])
        seen = tuple(crop.shape[1:3])
        if None not in expected and seen != expected:
            raise ValueError(
                f"SwAV crop {index} has size {seen} but the encoder takes {expected}; build the encoder "
                "with input_shape=(None, None, 3) to train on crops of several sizes."
            )

    def compute_objective(self, data, training):
        crops = list(data)
        if len(crops) <= self.num_global:
            raise ValueError(f"SwAV needs more than num_global={self.num_global} crops, got {len(crops)}")
        scores = self._scores(crops, training)
        loss = losses.swav(scores, num_global=self.num_global, temperature=self.temperature,
                           epsilon=self.epsilon, iterations=self.sinkhorn_iterations)
        codes = losses.sinkhorn(tf.stop_gradient(scores[0]), self.epsilon, self.sinkhorn_iterations)
        return {
            "loss": loss,
            "code_entropy": code_entropy(codes),
            "prototypes_before_step": tf.convert_to_tensor(self.prototypes.kernel),
        }

    def after_train_step(self, data, results):
        if self.freeze_prototypes_steps > 0:
            # optimizer.iterations has already counted this step.
            frozen = self.optimizer.iterations <= self.freeze_prototypes_steps
            kept = tf.where(frozen, results["prototypes_before_step"], self.prototypes.kernel)
            replica.assign([self.prototypes.kernel], [kept])
        kernel = tf.convert_to_tensor(self.prototypes.kernel)
        replica.assign([self.prototypes.kernel], [tf.math.l2_normalize(kernel, axis=0)])

    def get_config(self):
        return {
            **super().get_config(),
            "projector": serialize(self.projector),
            "num_prototypes": self.num_prototypes,
            "num_global": self.num_global,
            "temperature": self.temperature,
            "epsilon": self.epsilon,
            "sinkhorn_iterations": self.sinkhorn_iterations,
            "freeze_prototypes_steps": self.freeze_prototypes_steps,
        }
