"""CLIP (Radford et al. 2021): image and text towers trained with a symmetric contrastive loss."""
import math

import keras
import tensorflow as tf

from sslzoo import keras_internals, losses, replica
from sslzoo.evaluation.features import encoder_image_size
from sslzoo.models.base import SSLModel, build_layer, serialize
from sslzoo.models.batch_spec import Tensor
from sslzoo.models.registry import register
from sslzoo.preprocessing import eval_images


@register("clip")
@keras.saving.register_keras_serializable(package="sslzoo")
class CLIP(SSLModel):
    """Contrastive image-text pre-training with a learnable temperature.

    Batches are `{"image": float32 (B, S, S, 3) in [0, 1], "text": int32 token ids (B, L)}`
    (tokenise in tf.data with `sslzoo.text.Tokenizer`). Each tower's pooled output
    goes through a bias-free linear projection to `embedding_dim`, then L2
    normalisation; the loss is `sslzoo.losses.clip(image_emb, text_emb, exp(log_scale))`
    with negatives from the global batch. The log-scale starts at log(1 / init_temperature)
    and after every step is clamped to [0, log(max_scale)] (as OpenCLIP does).

    Weight decay never touches the log-scale: `compile` excludes it from the
    optimizer's (decoupled) decay, as OpenCLIP's training main.py puts
    `logit_scale` (with gains and biases) in its no-decay parameter group;
    decaying it would pull the temperature towards 1. LARS (`sslzoo.optimizers`)
    excludes it anyway, as a rank-0 variable.

    Args:
      image_encoder: `keras.Model`, images (B, S, S, 3) -> h (B, F); `model.encoder`.
      text_encoder: `keras.Model`, token ids (B, L) -> (B, F_text).
      tokenizer: optional `sslzoo.text.Tokenizer` (strings -> ids) for
        `encode_text` and the exported text tower.
      embedding_dim: D, the shared embedding width.
      init_temperature: initial softmax temperature (scale = 1 / temperature).
      max_scale: upper bound of the scale exp(log_scale).
    """

    metric_names = ("loss", "logit_scale", "accuracy")
    serialized_layers = ("image_encoder", "text_encoder", "tokenizer")
    batch_spec = {"image": Tensor(4, layout="(B, S, S, 3)"), "text": Tensor(2, kind="int", layout="(B, L) token ids")}
    default_augment = "captions"
    embedding_spaces = {"image": ("joint",), "text": ("joint",)}

    def __init__(self, image_encoder, text_encoder, tokenizer=None, embedding_dim=64,
                 init_temperature=0.07, max_scale=100.0, **kwargs):
        if not isinstance(text_encoder, keras.Model):
            raise ValueError(f"`text_encoder` must be a keras.Model, got {type(text_encoder).__name__}")
        kwargs.pop("encoders", None)  # rebuilt from image_encoder and text_encoder
        super().__init__(encoders={"image": image_encoder, "text": text_encoder}, **kwargs)
        if not isinstance(embedding_dim, int) or embedding_dim < 1:
            raise ValueError(f"`embedding_dim` must be a positive int, got {embedding_dim!r}")
        if not 0 < init_temperature:
            raise ValueError(f"`init_temperature` must be positive, got {init_temperature}")
        if not max_scale >= 1.0 / init_temperature:
            raise ValueError(f"`max_scale` must be at least 1 / init_temperature = {1.0 / init_temperature:g}, "
                             f"got {max_scale}")
        self.text_encoder = text_encoder
        self.tokenizer = tokenizer
        self.embedding_dim = embedding_dim
        self.init_temperature = float(init_temperature)
        self.max_scale = float(max_scale)
        self.image_projection = keras.layers.Dense(embedding_dim, use_bias=False, name="image_projection")
        self.text_projection = keras.layers.Dense(embedding_dim, use_bias=False, name="text_projection")
        self.projector = self.image_projection  # what `sslzoo.export.save(model)` serves as "projection"
        build_layer(self.image_projection, (None, self.representation_dim))
        build_layer(self.text_projection, (None, int(text_encoder.output_shape[-1])))
        self.log_scale = self.add_weight(
            shape=(), name="log_scale", trainable=True,
            initializer=keras.initializers.Constant(math.log(1.0 / self.init_temperature)))
        self.built = True

    # ------------------------------------------------------------ embeddings
    def project(self, features, modality, space="joint", training=False):
        """Features of `modality` ("image" (B, F) or "text" (B, F_text)) -> unit joint embeddings (B, D)."""
        projection = self.image_projection if modality == "image" else self.text_projection
        return tf.math.l2_normalize(projection(features), axis=-1)

    def embed_images(self, images, training=False):
        """Images (B, S, S, 3) float in [0, 1] -> unit embeddings (B, D)."""
        return self.embed(images, "image", "joint", training=training)

    def embed_text(self, ids, training=False):
        """Token ids (B, L) int32 -> unit embeddings (B, D)."""
        return self.embed(ids, "text", "joint", training=training)

    def encode_image(self, images):
        """Raw images (N, H, W, 1|3) uint8 or float in [0, 1], any size -> unit embeddings (N, D)."""
        size = encoder_image_size(self.encoder)
        return self.embed_images(eval_images(images, size))

    def encode_text(self, strings):
        """Strings (M,) -> unit embeddings (M, D), tokenised with `self.tokenizer`."""
        if self.tokenizer is None:
            raise ValueError("`encode_text` needs a `tokenizer`; build CLIP with tokenizer=sslzoo.text.Tokenizer(...)")
        return self.embed_text(self.tokenizer(tf.convert_to_tensor(strings, tf.string)))

    @property
    def scale(self):
        """The logit multiplier exp(log_scale), float32 scalar."""
        return tf.exp(tf.convert_to_tensor(self.log_scale))

    # ---------------------------------------------------------------- towers
    @property
    def image_tower(self):
        """Fresh functional `keras.Model`: images (B, S, S, 3) in [0, 1] -> unit embeddings (B, D)."""
        images = keras.Input(self.encoder.input_shape[1:], name="images")
        embedding = keras.layers.UnitNormalization(axis=-1, name="l2_normalize")(
            self.image_projection(self.encoder(images)))
        return keras.Model(images, embedding, name="clip_image_tower")

    @property
    def text_tower(self):
        """Fresh functional `keras.Model`: token ids (B, L) int32 -> unit embeddings (B, D).

        Its `tokenizer` attribute (this model's) lets `sslzoo.export.text_adapter`
        serve it on raw strings.
        """
        ids = keras.Input(self.text_encoder.input_shape[1:], dtype="int32", name="token_ids")
        embedding = keras.layers.UnitNormalization(axis=-1, name="l2_normalize")(
            self.text_projection(self.text_encoder(ids)))
        tower = keras.Model(ids, embedding, name="clip_text_tower")
        tower.tokenizer = self.tokenizer
        return tower

    # -------------------------------------------------------------- training
    def compile(self, *args, **kwargs):
        """`keras.Model.compile`, then the log-scale is excluded from the optimizer's weight decay."""
        super().compile(*args, **kwargs)
        self._exclude_log_scale_from_weight_decay()

    def _exclude_log_scale_from_weight_decay(self):
        optimizer = getattr(self.optimizer, "inner_optimizer", self.optimizer)  # under loss scaling
        if optimizer is None or getattr(optimizer, "weight_decay", None) is None:
            return
        if not optimizer.built:
            keras_internals.exclude_from_weight_decay(optimizer, [self.log_scale])
        elif keras_internals.decays(optimizer, self.log_scale):
            raise ValueError(
                "CLIP: the optimizer is already built and would apply weight decay to the logit scale; "
                "compile CLIP with a new optimizer (or one built with "
                "`optimizer.exclude_from_weight_decay(var_list=[model.log_scale])`).")

    def compute_objective(self, batch, training):
        self.check_batch(batch)
        image_emb = self.embed_images(batch["image"], training)
        text_emb = self.embed_text(batch["text"], training)
        scale = self.scale
        loss = losses.clip(image_emb, text_emb, scale)
        return loss, {"logit_scale": scale, "accuracy": _batch_accuracy(image_emb, text_emb)}

    def after_train_step(self, batch, outputs):
        """Clamps the log-scale to [0, log(max_scale)]."""
        clamped = tf.clip_by_value(tf.convert_to_tensor(self.log_scale), 0.0, math.log(self.max_scale))
        replica.assign([self.log_scale], [clamped])

    def get_config(self):
        config = super().get_config()
        config.pop("encoders")
        config["image_encoder"] = serialize(self.encoder)
        return {
            **config,
            "text_encoder": serialize(self.text_encoder),
            "tokenizer": serialize(self.tokenizer),
            "embedding_dim": self.embedding_dim,
            "init_temperature": self.init_temperature,
            "max_scale": self.max_scale,
        }


def _batch_accuracy(image_emb, text_emb):
    """Mean of image->text and text->image top-1 accuracy over the global batch; float32 scalar.

    image_emb, text_emb: (B, D) unit rows of this replica, row b paired with row b.
    """
    rows = replica.global_rows(tf.shape(image_emb)[0])
    image_to_text = tf.argmax(tf.matmul(image_emb, replica.all_gather(text_emb), transpose_b=True), axis=1)
    text_to_image = tf.argmax(tf.matmul(text_emb, replica.all_gather(image_emb), transpose_b=True), axis=1)
    hits = tf.cast(tf.equal(tf.cast(image_to_text, tf.int32), rows), tf.float32) \
        + tf.cast(tf.equal(tf.cast(text_to_image, tf.int32), rows), tf.float32)
    return tf.reduce_mean(hits) / 2.0
