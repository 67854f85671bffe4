"""DINO (Caron et al. 2021): self-distillation with a momentum teacher, centering and sharpening."""
import keras
import tensorflow as tf

from sslzoo import backbones, losses, replica
from sslzoo.backbones.common import batch_norm
from sslzoo.models.base import build_layer, serialize
from sslzoo.models.momentum import MomentumSSLModel
from sslzoo.models.batch_spec import Crops, Tensor
from sslzoo.models.registry import register


@keras.saving.register_keras_serializable(package="sslzoo")
class DINOHead(keras.layers.Layer):
    """DINO's head: MLP -> bottleneck -> L2 normalise -> weight-normalised linear (no bias).

    The last layer is `x @ (V / ||V||_col)`: each output's weight vector has unit norm
    (the official `weight_norm` with its gain fixed to 1, `norm_last_layer=True`).

    Args:
      hidden_dim: width of the hidden layers (paper 2048).
      bottleneck_dim: width before the last layer (paper 256).
      output_dim: K, the number of outputs (paper 65536).
      num_layers: Linear layers before the bottleneck output (paper 3).
      use_bn: BN after the hidden layers (paper: False for ViT).
      synchronized_bn: cross-replica BN.

    Call: (B, F) -> logits (B, K).
    """

    def __init__(self, hidden_dim=2048, bottleneck_dim=256, output_dim=65536, num_layers=3, use_bn=False,
                 synchronized_bn=True, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("hidden_dim", hidden_dim), ("bottleneck_dim", bottleneck_dim),
                            ("output_dim", output_dim), ("num_layers", num_layers)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive int, got {value!r}")
        self.hidden_dim, self.bottleneck_dim, self.output_dim = hidden_dim, bottleneck_dim, output_dim
        self.num_layers, self.use_bn, self.synchronized_bn = num_layers, bool(use_bn), bool(synchronized_bn)
        self.mlp = []
        for i in range(num_layers - 1):
            dense = keras.layers.Dense(hidden_dim, name=f"hidden{i + 1}_dense")
            norm = batch_norm(f"hidden{i + 1}_bn", synchronized=synchronized_bn) if use_bn else None
            self.mlp.append((dense, norm))
        self.bottleneck = keras.layers.Dense(bottleneck_dim, name="bottleneck_dense")

    def build(self, input_shape):
        shape = tuple(input_shape)
        for dense, norm in self.mlp:
            dense.build(shape)
            shape = shape[:-1] + (self.hidden_dim,)
            if norm is not None:
                norm.build(shape)
        self.bottleneck.build(shape)
        self.last_layer = self.add_weight(shape=(self.bottleneck_dim, self.output_dim),
                                          initializer=keras.initializers.TruncatedNormal(stddev=0.02),
                                          name="last_layer")

    def features(self, inputs, training=None):
        """(B, F) -> unit bottleneck vectors (B, bottleneck_dim)."""
        x = inputs
        for dense, norm in self.mlp:
            x = dense(x)
            if norm is not None:
                x = norm(x, training=training)
            x = keras.activations.gelu(x, approximate=False)
        return tf.math.l2_normalize(self.bottleneck(x), axis=-1, epsilon=1e-12)

    def call(self, inputs, training=None):
        kernel = tf.math.l2_normalize(tf.convert_to_tensor(self.last_layer), axis=0, epsilon=1e-12)
        return tf.matmul(self.features(inputs, training=training), kernel)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (self.output_dim,)

    def get_config(self):
        return {**super().get_config(), "hidden_dim": self.hidden_dim, "bottleneck_dim": self.bottleneck_dim,
                "output_dim": self.output_dim, "num_layers": self.num_layers, "use_bn": self.use_bn,
                "synchronized_bn": self.synchronized_bn}


@register("dino")
@keras.saving.register_keras_serializable(package="sslzoo")
class DINO(MomentumSSLModel):
    """Student on every crop distils an EMA teacher that sees only the global crops.

    Batches are a tuple of crops, globals first, each (B, S_i, S_i, 3)
    (`sslzoo.augment.MultiCrop`). Student logits (B, K) for every crop,
    teacher logits for the `num_global` globals; the loss is
    `sslzoo.losses.dino_loss(student, teacher, center, student_temp, teacher_temp_t)`
    over pairs of different crops. After each step: the teacher moves by momentum
    (0.996 -> 1 on a half-cosine), and the center moves as
    `c <- m c + (1 - m) mean(teacher logits)` with the mean over the GLOBAL batch
    (`losses.dino_center`: sums all-reduced across replicas), identical on every
    replica. The teacher temperature rises linearly from `warmup_teacher_temp` to
    `teacher_temp` over `warmup_teacher_temp_steps` optimizer steps, then stays.
    For the first `freeze_last_layer_steps` steps the head's last layer is put
    back after the update (the official code drops its gradient in the first epoch).
    Gradient clipping (official 3.0) belongs to the optimizer (`clipnorm`).

    Args:
      encoder: `keras.Model`, images -> h (B, F).
      head: layer h -> logits (B, K), or a dict of `DINOHead` arguments. Default: `DINOHead` scaled to F:
        hidden min(2048, 8F), bottleneck min(256, F), K = min(65536, 16F), BN.
      num_global: leading crops the teacher sees (2).
      student_temp: 0.1.
      teacher_temp: final teacher temperature (0.04 to 0.07 in the paper).
      warmup_teacher_temp: starting teacher temperature (0.04).
      warmup_teacher_temp_steps: steps of the linear warm-up (0: none).
      center_momentum: 0.9.
      freeze_last_layer_steps: steps during which the last layer does not move.
      momentum, momentum_schedule_steps: the teacher EMA (0.996 -> 1 cosine).
    """

    metric_names = ("loss", "momentum", "teacher_temperature", "teacher_entropy")
    serialized_layers = ("encoder", "head")
    batch_spec = Crops(Tensor(4, layout="(B, S_i, S_i, 3)"), minimum=2)
    default_augment = "multicrop"
    embedding_spaces = {"image": ("projection",)}

    def __init__(self, encoder, head=None, num_global=2, student_temp=0.1, teacher_temp=0.04,
                 warmup_teacher_temp=0.04, warmup_teacher_temp_steps=0, center_momentum=0.9,
                 freeze_last_layer_steps=0, momentum=0.996, momentum_schedule_steps=None, **kwargs):
        super().__init__(encoder, momentum=momentum, momentum_schedule_steps=momentum_schedule_steps, **kwargs)
        for name, value in (("student_temp", student_temp), ("teacher_temp", teacher_temp),
                            ("warmup_teacher_temp", warmup_teacher_temp)):
            if not value > 0:
                raise ValueError(f"`{name}` must be positive, got {value!r}")
        if not 0.0 <= center_momentum <= 1.0:
            raise ValueError(f"`center_momentum` must be in [0, 1], got {center_momentum!r}")
        for name, value in (("num_global", num_global), ("warmup_teacher_temp_steps", warmup_teacher_temp_steps),
                            ("freeze_last_layer_steps", freeze_last_layer_steps)):
            if not isinstance(value, int) or value < (1 if name == "num_global" else 0):
                raise ValueError(f"`{name}` must be an int >= {1 if name == 'num_global' else 0}, got {value!r}")
        self.num_global = num_global
        self.student_temp, self.teacher_temp = float(student_temp), float(teacher_temp)
        self.warmup_teacher_temp = float(warmup_teacher_temp)
        self.warmup_teacher_temp_steps = warmup_teacher_temp_steps
        self.center_momentum = float(center_momentum)
        self.freeze_last_layer_steps = freeze_last_layer_steps
        feature_dim = self.representation_dim
        if isinstance(head, dict) and "class_name" not in head:  # a preset's DINOHead arguments
            head = DINOHead(**head)
        self.head = head or DINOHead(hidden_dim=min(2048, 8 * feature_dim), bottleneck_dim=min(256, feature_dim),
                                     output_dim=min(65536, 16 * feature_dim), use_bn=True)
        output_dim = build_layer(self.head, (None, feature_dim))[-1]
        self.teacher_encoder = self.teacher(self.encoder, self.encoder.input_shape)
        self.teacher_head = self.teacher(self.head, (None, feature_dim))
        self.center = self.add_weight(shape=(1, output_dim), initializer="zeros", trainable=False, name="center")
        # Not tracked: they hold no variables of their own (see SwAV).
        object.__setattr__(self, "crop_encoder", backbones.any_size(self.encoder))
        self.built = True

    def project(self, features, modality="image", space="projection", training=False):
        """Features h (B, F) -> the head's unit bottleneck vectors (B, bottleneck) if it has them, else logits."""
        if space != "projection":
            return super().project(features, modality, space, training)
        if hasattr(self.head, "features"):
            return self.head.features(features, training=training)
        return self.head(features, training=training)

    def current_teacher_temp(self):
        """The teacher temperature of this step (float32 scalar)."""
        if not self.warmup_teacher_temp_steps:
            return tf.constant(self.teacher_temp, tf.float32)
        progress = tf.minimum(tf.cast(self.optimizer.iterations, tf.float32)
                              / float(self.warmup_teacher_temp_steps), 1.0)
        return self.warmup_teacher_temp + (self.teacher_temp - self.warmup_teacher_temp) * progress

    def _student_logits(self, crops, training):
        """Logits (B, K) per crop; crops of one size run through the encoder together."""
        logits, start = [], 0
        while start < len(crops):
            end = start + 1
            while end < len(crops) and crops[end].shape[1:] == crops[start].shape[1:]:
                end += 1
            h = self.crop_encoder(tf.concat(crops[start:end], 0), training=training)
            logits.extend(tf.split(self.head(h, training=training), end - start))
            start = end
        return logits

    def compute_objective(self, batch, training):
        crops = list(batch)
        if len(crops) < max(2, self.num_global):
            raise ValueError(f"DINO needs at least max(2, num_global={self.num_global}) crops, got {len(crops)}")
        student = self._student_logits(crops, training)
        globals_ = tf.concat(crops[: self.num_global], 0)
        teacher = self.teacher_head(self.teacher_encoder(globals_, training=training), training=training)
        teacher = tf.split(tf.stop_gradient(teacher), self.num_global)
        teacher_temp = self.current_teacher_temp()
        center = tf.convert_to_tensor(self.center)
        loss = losses.dino_loss(student, teacher, center, self.student_temp, teacher_temp)
        probs = tf.nn.softmax((tf.cast(teacher[0], center.dtype) - center) / tf.cast(teacher_temp, center.dtype))
        entropy = tf.reduce_mean(-tf.reduce_sum(probs * tf.math.log(probs + 1e-12), -1))
        outputs = {"momentum": self.current_momentum(), "teacher_temperature": teacher_temp,
                   "teacher_entropy": entropy, "teacher_logits": teacher}
        if self.freeze_last_layer_steps and hasattr(self.head, "last_layer"):
            outputs["last_layer_before_step"] = tf.convert_to_tensor(self.head.last_layer)
        return loss, outputs

    def after_train_step(self, batch, outputs):
        if "last_layer_before_step" in outputs:
            frozen = self.optimizer.iterations <= self.freeze_last_layer_steps  # already counts this step
            kept = tf.where(frozen, outputs["last_layer_before_step"], tf.convert_to_tensor(self.head.last_layer))
            replica.assign([self.head.last_layer], [kept])
        new_center = losses.dino_center(outputs["teacher_logits"], self.center, self.center_momentum)
        replica.assign([self.center], [tf.cast(new_center, self.center.dtype)])
        super().after_train_step(batch, outputs)

    def get_config(self):
        return {**super().get_config(), "head": serialize(self.head), "num_global": self.num_global,
                "student_temp": self.student_temp, "teacher_temp": self.teacher_temp,
                "warmup_teacher_temp": self.warmup_teacher_temp,
                "warmup_teacher_temp_steps": self.warmup_teacher_temp_steps,
                "center_momentum": self.center_momentum, "freeze_last_layer_steps": self.freeze_last_layer_steps}
