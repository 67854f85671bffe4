"""MMV (Alayrac et al. 2020): video, audio and text trained together in fine-and-coarse spaces.

Three encoders (video, audio, text) feed small heads into joint spaces; the loss is
`lambda_va * NCE(v_va, a_va) + lambda_vt * MIL-NCE(v_vat, t_vat)` with negatives
from the global batch (`sslzoo.losses.nce`, `sslzoo.losses.mil_nce`). Clips
without audio (`audio_mask` 0) leave the video-audio term and clips without text
(`text_mask` row all 0) the video-text term, without biasing either mean.

Head designs (`heads`):

- "fac" (fine and coarse, the paper's best): video -> S_va by Linear-BN-ReLU-Linear,
  audio -> S_va by Linear; S_va -> S_vat by Linear then BN on ReLU of the S_va
  embedding (`va_to_vat`), applied to the video in training and to the audio at
  evaluation (audio reaches S_vat through the video's head); text -> S_vat by Linear.
- "shared": one space S_vat for all three (video Linear-BN-ReLU-Linear, audio and
  text Linear), both losses computed there.
- "disjoint": S_va (video MLP, audio Linear) and S_vt (a second video MLP, text
  Linear), no link between audio and text.

Every BN of the heads is synchronized across replicas (`sslzoo.backbones.batch_norm`),
so the split-batch step equals the single-device one.
"""
import keras
import tensorflow as tf

from sslzoo import losses, replica
from sslzoo.backbones.common import batch_norm
from sslzoo.models.base import SSLModel, deserialize, serialize
from sslzoo.models.batch_spec import Tensor
from sslzoo.models.registry import register

HEADS = ("fac", "shared", "disjoint")
MODALITIES = ("video", "audio", "text")


def _mlp(hidden_dim, output_dim, name):
    """Linear-BN-ReLU-Linear, BN synchronized across replicas: (B, F) -> (B, output_dim)."""
    return keras.Sequential([
        keras.layers.Dense(hidden_dim, use_bias=False, name="linear1"),
        batch_norm("bn", synchronized=True),
        keras.layers.ReLU(name="relu"),
        keras.layers.Dense(output_dim, name="linear2"),
    ], name=name)


def _linear(output_dim, name):
    return keras.Sequential([keras.layers.Dense(output_dim, name="linear")], name=name)


def _va_to_vat(output_dim, name="va_to_vat"):
    """FAC's S_va -> S_vat head: Linear + BN on ReLU of the S_va embedding, (B, D_va) -> (B, D_vat)."""
    return keras.Sequential([
        keras.layers.ReLU(name="relu"),
        keras.layers.Dense(output_dim, use_bias=False, name="linear"),
        batch_norm("bn", synchronized=True),
    ], name=name)


def _unit(x):
    return tf.math.l2_normalize(x, axis=-1, epsilon=1e-12)


@register("mmv")
@keras.saving.register_keras_serializable(package="sslzoo")
class MMV(SSLModel):
    """Multimodal versatile networks: video, audio and text in joint spaces.

    Batches are dicts:
      video       float32 (B, T, H, W, 3) in [0, 1]
      audio       float32 (B, samples) raw waveform
      text        int32 (B, K, L) word ids of K candidate narrations (0 = pad;
                  tokenise in tf.data with `model.tokenizer`)
      text_mask   float32 (B, K), 1 for a real narration (a row of 0: no text)
      audio_mask  float32 (B,), 1 when the clip has sound

    Args:
      encoders: {"video": clips -> (B, F_v), "audio": waveforms -> (B, F_a),
        "text": ids (B, L) -> (B, F_t)} `keras.Model`s.
      heads: "fac", "shared" or "disjoint" (see the module docstring).
      va_dim: width of S_va (MMV: 512). vat_dim: width of S_vat / S_vt (MMV: 256).
      hidden_dim: hidden width of the video MLPs (default va_dim).
      temperature: softmax temperature of both terms (MMV: 0.07).
      lambda_va, lambda_vt: the terms' weights (MMV: 1:1 with AudioSet, 10:1 without).
      audio_dropout, text_dropout: per-clip probability, in training only, of
        treating the clip's audio / text as missing (applied to the masks). The
        draw is a function of (seed, step, clip's global index), so a split batch
        drops exactly what one device would.
      tokenizer: strings (B,) -> ids (B, L) (`sslzoo.text.WordTokenizer`); defaults
        to the text encoder's `tokenizer`. Used by `encode_text` and export.
      seed: seed of the modality dropout.
    """

    metric_names = ("loss", "loss_va", "loss_vt")
    serialized_layers = ("tokenizer",)
    batch_spec = {
        "video": Tensor(5, layout="(B, T, H, W, 3) in [0, 1]", last_dim=3),
        "audio": Tensor(2, layout="(B, samples) waveform"),
        "text": Tensor(3, kind="int", layout="(B, K, L) word ids"),
        "text_mask": Tensor(2, kind="numeric", layout="(B, K)"),
        "audio_mask": Tensor(1, kind="numeric", layout="(B,)"),
    }
    default_augment = "clips"

    def __init__(self, encoders, heads="fac", va_dim=512, vat_dim=256, hidden_dim=None, temperature=0.07,
                 lambda_va=1.0, lambda_vt=1.0, audio_dropout=0.0, text_dropout=0.0, tokenizer=None, seed=0,
                 **kwargs):
        if not isinstance(encoders, dict) or set(encoders) != set(MODALITIES):
            raise ValueError(f"`encoders` must be a dict with keys {MODALITIES}, got "
                             f"{sorted(encoders) if isinstance(encoders, dict) else type(encoders).__name__}")
        super().__init__(encoders={m: encoders[m] for m in MODALITIES}, **kwargs)
        if heads not in HEADS:
            raise ValueError(f"`heads` must be one of {HEADS}, got {heads!r}")
        for argument, value in (("va_dim", va_dim), ("vat_dim", vat_dim)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"`{argument}` must be a positive int, got {value!r}")
        if hidden_dim is not None and (not isinstance(hidden_dim, int) or hidden_dim < 1):
            raise ValueError(f"`hidden_dim` must be None or a positive int, got {hidden_dim!r}")
        if not temperature > 0:
            raise ValueError(f"`temperature` must be positive, got {temperature!r}")
        for argument, value in (("lambda_va", lambda_va), ("lambda_vt", lambda_vt)):
            if not value >= 0:
                raise ValueError(f"`{argument}` must be >= 0, got {value!r}")
        for argument, value in (("audio_dropout", audio_dropout), ("text_dropout", text_dropout)):
            if not 0.0 <= value < 1.0:
                raise ValueError(f"`{argument}` must be a probability in [0, 1), got {value!r}")
        self.heads = heads
        self.va_dim, self.vat_dim = va_dim, vat_dim
        self.hidden_dim = hidden_dim
        self.temperature = float(temperature)
        self.lambda_va, self.lambda_vt = float(lambda_va), float(lambda_vt)
        self.audio_dropout, self.text_dropout = float(audio_dropout), float(text_dropout)
        self.seed = int(seed)
        if tokenizer is None:
            tokenizer = getattr(encoders["text"], "tokenizer", None)
        self.tokenizer = tokenizer
        hidden = hidden_dim or va_dim
        dims = {m: self.feature_dim(m) for m in MODALITIES}
        if heads == "fac":
            self.video_va = _mlp(hidden, va_dim, "video_va")
            self.audio_va = _linear(va_dim, "audio_va")
            self.va_to_vat = _va_to_vat(vat_dim)
            self.text_vat = _linear(vat_dim, "text_vat")
            shapes = {self.video_va: dims["video"], self.audio_va: dims["audio"], self.va_to_vat: va_dim,
                      self.text_vat: dims["text"]}
        elif heads == "shared":
            self.video_vat = _mlp(hidden, vat_dim, "video_vat")
            self.audio_vat = _linear(vat_dim, "audio_vat")
            self.text_vat = _linear(vat_dim, "text_vat")
            shapes = {self.video_vat: dims["video"], self.audio_vat: dims["audio"], self.text_vat: dims["text"]}
        else:
            self.video_va = _mlp(hidden, va_dim, "video_va")
            self.video_vt = _mlp(hidden, vat_dim, "video_vt")
            self.audio_va = _linear(va_dim, "audio_va")
            self.text_vt = _linear(vat_dim, "text_vt")
            shapes = {self.video_va: dims["video"], self.video_vt: dims["video"], self.audio_va: dims["audio"],
                      self.text_vt: dims["text"]}
        for head, width in shapes.items():
            head.build((None, width))
        self.built = True

    # ------------------------------------------------------------ the spaces
    @property
    def embedding_spaces(self):
        """Joint spaces by modality for this head design (besides "features")."""
        return {
            "fac": {"video": ("va", "vat"), "audio": ("va", "vat"), "text": ("vat",)},
            "shared": {"video": ("vat",), "audio": ("vat",), "text": ("vat",)},
            "disjoint": {"video": ("va", "vt"), "audio": ("va",), "text": ("vt",)},
        }[self.heads]

    def common_space(self, first, second):
        """The space where `first` and `second` modalities meet, or None (audio-text in "disjoint").

        fac: video-audio "va", video-text and audio-text "vat"; shared: "vat";
        disjoint: video-audio "va", video-text "vt".
        """
        for modality in (first, second):
            self._check_modality(modality)
        pair = {first, second}
        if self.heads == "shared":
            return "vat"
        if pair == {"video", "audio"}:
            return "va"
        if self.heads == "fac":
            return "vat"
        return "vt" if pair == {"video", "text"} else None

    def project(self, features, modality, space, training=False):
        """Features (B, F) of `modality` -> unit embeddings (B, D) in `space` (see `spaces`)."""
        return _unit(self._heads(features, modality, training)[space])

    def _heads(self, features, modality, training):
        """Every joint embedding (unnormalised) of `modality`'s features: {space: (B, D)}."""
        if self.heads == "fac":
            if modality == "text":
                return {"vat": self.text_vat(features, training=training)}
            va = (self.video_va if modality == "video" else self.audio_va)(features, training=training)
            return {"va": va, "vat": self.va_to_vat(va, training=training)}
        if self.heads == "shared":
            head = {"video": self.video_vat, "audio": self.audio_vat, "text": self.text_vat}[modality]
            return {"vat": head(features, training=training)}
        if modality == "video":
            return {"va": self.video_va(features, training=training), "vt": self.video_vt(features, training=training)}
        if modality == "audio":
            return {"va": self.audio_va(features, training=training)}
        return {"vt": self.text_vt(features, training=training)}

    def encode_text(self, strings, space=None):
        """Strings (M,) -> unit embeddings (M, D) in the video-text space, tokenised with `self.tokenizer`."""
        if self.tokenizer is None:
            raise ValueError("`encode_text` needs a `tokenizer`: build MMV with tokenizer=sslzoo.text.WordTokenizer(...)")
        ids = self.tokenizer(tf.convert_to_tensor(strings, tf.string))
        return self.embed(ids, "text", space or self.common_space("video", "text"))

    # -------------------------------------------------------------- training
    def modality_masks(self, batch, training):
        """(audio_mask (B,), text_mask (B, K)) float32, after modality dropout in training."""
        audio_mask = tf.cast(batch["audio_mask"], tf.float32)
        text_mask = tf.cast(batch["text_mask"], tf.float32)
        if not training or (self.audio_dropout == 0.0 and self.text_dropout == 0.0) or getattr(self, "optimizer", None) is None:
            return audio_mask, text_mask
        local = tf.shape(audio_mask)[0]
        step = tf.cast(self.optimizer.iterations, tf.int32)
        draws = tf.random.stateless_uniform([2, local * replica.num_replicas()],
                                            seed=tf.stack([tf.constant(self.seed, tf.int32), step]))
        draws = tf.gather(draws, replica.global_rows(local), axis=1)  # this replica's clips of the global draw
        audio_mask *= tf.cast(draws[0] >= self.audio_dropout, tf.float32)
        text_mask *= tf.cast(draws[1] >= self.text_dropout, tf.float32)[:, tf.newaxis]
        return audio_mask, text_mask

    def compute_objective(self, batch, training):
        """(loss, {"loss_va", "loss_vt"}): the weighted NCE and MIL-NCE of one batch (shapes in the class docstring)."""
        self.check_batch(batch)
        video = self._heads(self.encoders["video"](batch["video"], training=training), "video", training)
        audio = self._heads(self.encoders["audio"](batch["audio"], training=training), "audio", training)
        ids = tf.convert_to_tensor(batch["text"])
        shape = tf.shape(ids)
        flat = tf.reshape(ids, [shape[0] * shape[1], shape[2]])  # (B * K, L)
        text = self._heads(self.encoders["text"](flat, training=training), "text", training)
        audio_mask, text_mask = self.modality_masks(batch, training)
        va_space, vt_space = self.common_space("video", "audio"), self.common_space("video", "text")
        loss_va = losses.nce(video[va_space], audio[va_space], self.temperature, mask=audio_mask)
        text_emb = text[vt_space]
        text_emb = tf.reshape(text_emb, tf.concat([shape[:2], tf.shape(text_emb)[-1:]], 0))  # (B, K, D)
        loss_vt = losses.mil_nce(video[vt_space], text_emb, text_mask, self.temperature)
        loss = self.lambda_va * loss_va + self.lambda_vt * loss_vt
        return loss, {"loss_va": loss_va, "loss_vt": loss_vt}

    # ---------------------------------------------------------------- saving
    def get_config(self):
        return {
            **super().get_config(),
            "heads": self.heads,
            "va_dim": self.va_dim,
            "vat_dim": self.vat_dim,
            "hidden_dim": self.hidden_dim,
            "temperature": self.temperature,
            "lambda_va": self.lambda_va,
            "lambda_vt": self.lambda_vt,
            "audio_dropout": self.audio_dropout,
            "text_dropout": self.text_dropout,
            "tokenizer": serialize(self.tokenizer),
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("tokenizer"), dict):
            config["tokenizer"] = deserialize(config["tokenizer"])
        if isinstance(config.get("encoders"), dict):
            config["encoders"] = {name: deserialize(c) if isinstance(c, dict) else c
                                  for name, c in config["encoders"].items()}
        return cls(**config)
