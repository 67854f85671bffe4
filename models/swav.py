"""SwAV (Caron et al. 2020): swapped prediction of Sinkhorn codes over multi-crop views."""
import keras
import tensorflow as tf

from sslzoo import backbones, heads, losses, optimizers, replica
from sslzoo.models.base import SSLModel, build_layer, serialize
from sslzoo.models.batch_spec import Crops, Tensor
from sslzoo.models.registry import register
from sslzoo.models.metrics import code_entropy


@register("swav")
@keras.saving.register_keras_serializable(package="sslzoo")
class SwAV(SSLModel):
    """Predicts the Sinkhorn code of one crop from the other crops.

    Batches are a tuple of crops, global crops first, each (B, S_i, S_i, 3)
    (`sslzoo.augment.MultiCrop`). Crops of the same size go through the
    encoder together; the features of all crops are then concatenated and go
    through the projector as one batch, as in the official code (swav
    src/resnet50.py `forward`: `forward_backbone` per run of equal crop sizes,
    `torch.cat` of the outputs, one `forward_head`), so the projector's batch
    norm takes its statistics over every crop of the step. Every crop's
    projection z is scored against unit-norm prototypes; the loss is
    `sslzoo.losses.swav(scores, num_global, ...)`, with Sinkhorn sums over the
    global batch.

    Prototypes are re-normalised after every step (main_swav.py normalises them
    before every forward pass: the same sequence of values) and kept frozen for
    the first `freeze_prototypes_steps` optimizer steps (main_swav.py
    `--freeze_prototypes_niters`, 313 = one epoch at batch 4096). Frozen means
    what main_swav.py's `p.grad = None` gives with SGD/LARC: neither the
    prototypes nor the optimizer's state for them (momentum, moments, weight
    decay) change during those steps. The step restores both to their values
    before the step, so the optimizer and its decay are any Keras optimizer's;
    one difference remains: a global `clipnorm` still counts the prototypes'
    gradient.

    With `queue_length > 0`, the projections of the global crops (gathered from all
    replicas) are kept in a queue per global crop; from `queue_start_step` on,
    once the queue is full, its rows join each global crop's Sinkhorn
    normalisation (small batches then still spread over all prototypes). Crops
    may be smaller than the encoder's fixed input: they run through
    `sslzoo.backbones.any_size(encoder)`, the same layers taking any size, while
    `model.encoder` keeps its fixed input for evaluation and export.

    Args:
      encoder: `keras.Model`, images -> h (B, F).
      projector: layer h -> z (B, D). Default: MLP F -> 2048 (capped at 4F) -> 128.
      num_prototypes: K (paper: 3000 on ImageNet).
      num_global: number of leading global crops that get codes.
      temperature, epsilon, sinkhorn_iterations: as in `sslzoo.losses.swav`.
      freeze_prototypes_steps: optimizer steps during which the prototypes do not move.
      queue_length: rows of past projections kept per global crop (0: no queue).
      queue_start_step: optimizer step from which a full queue is used.
    """

    metric_names = ("loss", "code_entropy")
    serialized_layers = ("encoder", "projector")
    batch_spec = Crops(Tensor(4, layout="(B, S_i, S_i, 3)"), minimum=3)
    default_augment = "multicrop"
    embedding_spaces = {"image": ("projection",)}

    def __init__(self, encoder, projector=None, num_prototypes=3000, num_global=2, temperature=0.1,
                 epsilon=0.05, sinkhorn_iterations=3, freeze_prototypes_steps=0, queue_length=0,
                 queue_start_step=0, **kwargs):
        super().__init__(encoder, **kwargs)
        self.num_prototypes = int(num_prototypes)
        self.num_global = int(num_global)
        self.temperature = float(temperature)
        self.epsilon = float(epsilon)
        self.sinkhorn_iterations = int(sinkhorn_iterations)
        self.freeze_prototypes_steps = int(freeze_prototypes_steps)
        self.queue_length = int(queue_length)
        self.queue_start_step = int(queue_start_step)
        if self.queue_length < 0 or self.queue_start_step < 0:
            raise ValueError(f"`queue_length` and `queue_start_step` must be >= 0, got "
                             f"{queue_length} and {queue_start_step}")
        self.projector = projector or heads.ProjectionHead(
            hidden_dims=(min(2048, 4 * self.representation_dim),), output_dim=128, synchronized_bn=True
        )
        embedding_dim = build_layer(self.projector, (None, self.representation_dim))[-1]
        self.prototypes = heads.Prototypes(self.num_prototypes, name="prototypes")
        build_layer(self.prototypes, (None, embedding_dim))
        # Not tracked: it holds no variable of its own, and tracking it would save the
        # encoder's weights twice.
        object.__setattr__(self, "crop_encoder", backbones.any_size(encoder))
        self.queue = None
        if self.queue_length:
            self.queue = self.add_weight(shape=(self.num_global, self.queue_length, embedding_dim),
                                         initializer="zeros", trainable=False, name="queue")
            self.queue_rows = self.add_weight(shape=(), dtype="int32", initializer="zeros",
                                              trainable=False, name="queue_rows")
        self.built = True

    def _projections(self, crops, training):
        """Normalised projections per crop: list of (B, D).

        Same-size crops run through the encoder as one batch; all features then
        run through the projector as one batch (the official `forward_head` on the
        concatenated backbone outputs).
        """
        groups, start = [], 0
        while start < len(crops):
            end = start + 1
            while end < len(crops) and crops[end].shape[1:] == crops[start].shape[1:]:
                end += 1
            groups.append((start, end))
            start = end
        features = []
        for start, end in groups:
            self._check_crop_size(crops[start], start)
            features.append(self.crop_encoder(tf.concat(crops[start:end], 0), training=training))
        z = self.project(tf.concat(features, 0), training=training)
        return tf.split(z, len(crops))

    def _check_crop_size(self, crop, index):
        expected = tuple(self.crop_encoder.input_shape[1:3])
        seen = tuple(crop.shape[1:3])
        if None not in expected and seen != expected:
            raise ValueError(
                f"SwAV crop {index} has size {seen} but the encoder takes {expected}, and it is not a "
                "functional model that sslzoo.backbones.any_size can rebuild for any crop size."
            )

    def project(self, features, modality="image", space="projection", training=False):
        """Features h (B, F) -> unit projections z (B, D), the space the prototypes score."""
        return tf.math.l2_normalize(self.projector(features, training=training), axis=-1)

    def compute_objective(self, batch, training):
        crops = list(batch)
        if len(crops) <= self.num_global:
            raise ValueError(f"SwAV needs more than num_global={self.num_global} crops, got {len(crops)}")
        projections = self._projections(crops, training)
        scores = [self.prototypes(z) for z in projections]
        swav_args = dict(num_global=self.num_global, temperature=self.temperature, epsilon=self.epsilon,
                         iterations=self.sinkhorn_iterations)
        loss = losses.swav(scores, **swav_args)
        results = {}
        if training and self.freeze_prototypes_steps > 0 and getattr(self, "optimizer", None) is not None:
            results["frozen_prototypes"] = self._frozen_state()
        if self.queue is not None:
            queue = tf.stop_gradient(tf.convert_to_tensor(self.queue))
            queue_scores = [self.prototypes(queue[s]) for s in range(self.num_global)]
            use_queue = tf.logical_and(
                tf.convert_to_tensor(self.queue_rows) >= self.queue_length,
                self.optimizer.iterations >= self.queue_start_step,
            )
            loss = tf.where(use_queue, losses.swav(scores, queue_scores=queue_scores, **swav_args), loss)
            results["global_projections"] = projections[: self.num_global]
        codes = losses.sinkhorn(tf.stop_gradient(scores[0]), self.epsilon, self.sinkhorn_iterations)
        return loss, {**results, "code_entropy": code_entropy(codes)}

    def _prototype_state(self):
        """The prototypes and the optimizer's variables for them (their slots)."""
        if not self.optimizer.built:  # the step would build it in `apply`; its slots must exist now
            self.optimizer.build(self.trainable_variables)
        kernel = self.prototypes.kernel
        return [kernel] + optimizers.slot_variables(self.optimizer, kernel, self.trainable_variables)

    def _frozen_state(self):
        """Before the optimizer step: whether this step is frozen, and the values to keep if so."""
        frozen = self.optimizer.iterations < self.freeze_prototypes_steps  # not yet counted this step
        return frozen, [tf.identity(tf.convert_to_tensor(v)) for v in self._prototype_state()]

    def after_train_step(self, batch, results):
        kernel = tf.math.l2_normalize(tf.convert_to_tensor(self.prototypes.kernel), axis=0)
        if "frozen_prototypes" in results:
            # A frozen step leaves the prototypes and their optimizer slots exactly as they were.
            frozen, before = results["frozen_prototypes"]
            state = self._prototype_state()
            after = [kernel] + [tf.convert_to_tensor(v) for v in state[1:]]
            replica.assign(state, [tf.where(frozen, b, a) for b, a in zip(before, after)])
        else:
            replica.assign([self.prototypes.kernel], [kernel])
        if self.queue is not None:
            self._enqueue(results["global_projections"])

    def _enqueue(self, projections):
        """Pushes the global batch's projections (gathered from every replica) onto each queue."""
        gathered = tf.stack([replica.all_gather(tf.stop_gradient(z)) for z in projections])  # (G, NB, D)
        queue = tf.concat([tf.cast(gathered, self.queue.dtype), tf.convert_to_tensor(self.queue)], axis=1)
        rows = tf.minimum(tf.convert_to_tensor(self.queue_rows) + tf.shape(gathered)[1], self.queue_length)
        replica.assign([self.queue, self.queue_rows], [queue[:, : self.queue_length], rows])

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
            "queue_length": self.queue_length,
            "queue_start_step": self.queue_start_step,
        }
