"""Self-supervised losses: pure, replica-aware functions of tensors.

Every loss computes in float64 when given float64 embeddings and in float32 for
any other input dtype (bf16, fp16, integers), is numerically stable
(log-sum-exp, fused softmax cross-entropy, log-domain Sinkhorn) and traces under
`tf.function`, also with `jit_compile=True` on one device. The similarity losses
(`nt_xent`, `info_nce`, `clip`, `nce`, `mil_nce`) L2-normalise their embedding
inputs themselves. Bad input raises ValueError naming the argument and shapes.

Replica convention (see `sslzoo.replica`): inside a `tf.distribute` replica
context with N replicas, each holding a local batch of B (equal on every
replica: use `drop_remainder=True`), a loss returns the loss of *this replica's
share* of the anchors, computed against negatives gathered from all replicas
(`replica.all_gather`, differentiable; labels offset with `replica.global_rows`)
and statistics summed over all replicas (`replica.all_reduce_sum`; the global
batch is B * N). So the MEAN over replicas of the returned values equals the
loss of the global batch on one device. Per loss:

- `margin_contrastive`, `swav`: the mean over this replica's pairs / samples
  (`sinkhorn` returns this replica's rows of the global codes).
- `nt_xent`: this replica's 2B anchors against all 2NB gathered embeddings.
- `info_nce`: this replica's queries; with `queue=None` against all NB keys.
- `clip`, `nce`, `mil_nce`: this replica's rows (and columns) of the global
  similarity matrix.
- `barlow_twins` (and its two terms, `barlow_twins_terms`): the global value,
  identical on every replica.

An objective divides the returned value by N before `tape.gradient` (the
optimizer sums gradients over replicas) and logs the unscaled value. Outside a
replica context, or with one replica, every loss is the plain single-device loss.
"""
from sslzoo.losses.clustering import sinkhorn
from sslzoo.losses.clustering import swav
from sslzoo.losses.contrastive import info_nce
from sslzoo.losses.contrastive import margin_contrastive
from sslzoo.losses.contrastive import nt_xent
from sslzoo.losses.multimodal import clip
from sslzoo.losses.multimodal import mil_nce
from sslzoo.losses.multimodal import nce
from sslzoo.losses.non_contrastive import byol_loss, dino_center, dino_loss, simsiam_loss, vicreg, vicreg_terms
from sslzoo.losses.redundancy import barlow_twins, barlow_twins_terms

__all__ = [
    "barlow_twins", "barlow_twins_terms", "byol_loss", "clip", "dino_center", "dino_loss", "info_nce", "margin_contrastive", "mil_nce", "nce", "nt_xent", "simsiam_loss", "sinkhorn", "swav", "vicreg", "vicreg_terms",
]
