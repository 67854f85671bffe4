"""Every objective's loss pinned at the objective level, in float64.

`compute_objective` runs on fixed small float64 tensors with the encoders
replaced by fixed maps (the pixels flattened, or their mean per channel) and
heads that are fixed linear maps (with batch norm where the objective's
recipe has it), so the loss is a known function of the inputs. Each test
writes that function out in numpy here, from the papers and the official code,
never from sslzoo. tests/test_losses.py pins the loss functions themselves;
these tests pin what the objectives feed them: which view is query or key,
the queue, MoCo v3's 2 tau factor, Barlow's lambda and scale, which rows a batch
norm averages over (each view separately for Barlow Twins, MoCo v3, BYOL,
SimSiam and VICReg, or both views together with VICReg's joint option, all crops together
for SwAV), the Sinkhorn codes and CLIP's scale.

Tolerance: RTOL = 1e-12. Every value is float64 on both sides; each loss is a
few hundred operations on O(1) values (exp(scores / 0.05) <= e^20 in Sinkhorn),
so both sides sit within ~1e-14 relative of the exact value; 1e-12 is 100x
that, and any change of formula (a factor, a term, another batch in a batch
norm) moves the loss by 1e-3 or more (the sensitivity checks below show it).
"""
import keras
import numpy as np
import pytest

import objective_harness as harness
from sslzoo import heads, models

RTOL = 1e-12
B = 6  # batch
S = 2  # image side: images (B, 2, 2, 3), 12 pixels
BN_EPSILON = 1e-5  # sslzoo.backbones.common.BN_EPSILON, biased batch variance


@pytest.fixture(autouse=True)
def float64():
    harness.set_float_dtype("float64")
    yield
    harness.set_float_dtype("float32")


# ----------------------------------------------------------------- numpy side
def normalize(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def logsumexp(x, axis=-1):
    top = np.max(x, axis=axis, keepdims=True)
    return np.squeeze(top, axis) + np.log(np.sum(np.exp(x - top), axis=axis))


def log_softmax(x):
    return x - logsumexp(x)[:, None]


def cross_entropy(logits, labels):
    """Mean over rows of -log softmax(row)[label]."""
    return np.mean(logsumexp(logits) - logits[np.arange(len(logits)), labels])


def batch_norm(x):
    """Training-mode batch norm without affine: standardise each column over the rows."""
    return (x - x.mean(0)) / np.sqrt(x.var(0) + BN_EPSILON)


def sinkhorn(scores, epsilon, iterations):
    """SwAV's codes (main_swav.py `distributed_sinkhorn`, one replica): Q = exp(scores / eps)^T (K, B),
    normalised to total 1, then `iterations` rounds of rows (prototypes) to 1/K and columns
    (samples) to 1/B; returned as (B, K) with each sample's row summing to 1."""
    q = np.exp(scores / epsilon).T
    k, b = q.shape
    q = q / q.sum()
    for _ in range(iterations):
        q = q / q.sum(axis=1, keepdims=True) / k
        q = q / q.sum(axis=0, keepdims=True) / b
    return (q / q.sum(axis=0, keepdims=True)).T


def swapped_prediction(scores, num_global, temperature, epsilon, iterations):
    """main_swav.py's loss: for each global crop s, the mean over the other crops v of
    -mean_b sum_k q_s log softmax(scores_v / t); the mean over the global crops."""
    terms = []
    for s in range(num_global):
        q = sinkhorn(scores[s], epsilon, iterations)
        terms.append(np.mean([-np.mean(np.sum(q * log_softmax(scores[v] / temperature), axis=1))
                              for v in range(len(scores)) if v != s]))
    return np.mean(terms)


# ---------------------------------------------------------------- model side
def pixel_encoder(side=S):
    """images (B, side, side, 3) -> h (B, 3 side^2), the pixels themselves."""
    images = keras.Input((side, side, 3))
    return keras.Model(images, keras.layers.Flatten()(images))


def channel_mean_encoder():
    """images (B, any, any, 3) -> h (B, 3), each channel's mean (takes crops of any size)."""
    images = keras.Input((4, 4, 3))
    return keras.Model(images, keras.layers.GlobalAveragePooling2D()(images))


def linear_head(kernel, last_bn=False, hidden=None):
    """h (B, F) -> [relu(BN(h @ hidden))] @ kernel, then (last_bn) batch norm without affine; no biases.

    The hidden batch norm starts at gamma 1, beta 0, so it is `batch_norm` below.
    """
    hidden_dims = () if hidden is None else (hidden.shape[1],)
    head = heads.ProjectionHead(hidden_dims=hidden_dims, output_dim=kernel.shape[1], use_bn=True, last_bn=last_bn,
                                last_bn_affine=False, output_bias=False)
    head.build((None, (kernel if hidden is None else hidden).shape[0]))
    if hidden is not None:
        head.hidden_layers[0][0].kernel.assign(hidden)
    head.output_dense.kernel.assign(kernel)
    return head


@pytest.fixture
def rng():
    return np.random.default_rng(14)


def two_views(rng):
    """Two views whose statistics differ (view 2 is scaled and shifted), so a batch norm over
    both views at once and one per view give different losses."""
    view_1 = rng.uniform(size=(B, S, S, 3))
    view_2 = 0.5 * view_1 + rng.uniform(size=(B, S, S, 3)) + 0.3
    return view_1, view_2


def flat(x):
    return x.reshape(len(x), -1)


def loss_of(model, batch):
    loss, _ = model.compute_objective(batch, training=True)
    assert loss.dtype == "float64"
    return float(loss)


def assert_loss_with_batch_norm(model, views, loss, joint=False, min_gap=1e-3):
    """The model's loss equals `loss(bn)` with bn per view (or over both views when `joint`), and the
    two batch norms give losses at least `min_gap` apart, so the check tells them apart."""
    per_view = loss(lambda x_1, x_2: (batch_norm(x_1), batch_norm(x_2)))
    both = loss(lambda x_1, x_2: np.split(batch_norm(np.concatenate([x_1, x_2])), 2))
    np.testing.assert_allclose(loss_of(model, views), both if joint else per_view, rtol=RTOL)
    assert abs(both - per_view) > min_gap


# --------------------------------------------------------------------- tests
def test_simclr_nt_xent(rng):
    view_1, view_2 = two_views(rng)
    a = rng.normal(size=(12, 5))
    model = models.SimCLR(pixel_encoder(), projector=linear_head(a), temperature=0.3)
    z = normalize(np.concatenate([flat(view_1) @ a, flat(view_2) @ a]))
    n = 2 * B
    similarity = z @ z.T / 0.3
    positive = (np.arange(n) + B) % n
    # each anchor: logsumexp over the 2B - 1 others minus its positive (SimCLR's NT-Xent)
    others = np.where(np.eye(n, dtype=bool), -np.inf, similarity)
    expected = np.mean(logsumexp(others) - similarity[np.arange(n), positive])
    np.testing.assert_allclose(loss_of(model, (view_1, view_2)), expected, rtol=RTOL)


@pytest.mark.parametrize("symmetric", [False, True])
def test_moco_v2_info_nce_against_a_known_queue(rng, symmetric):
    view_1, view_2 = two_views(rng)
    a = rng.normal(size=(12, 4))
    queue = normalize(rng.normal(size=(8, 4)))
    model = models.MoCoV2(pixel_encoder(), projector=linear_head(a), temperature=0.2, queue_size=8,
                          symmetric=symmetric)
    model.queue.assign(queue)
    q_1, q_2 = normalize(flat(view_1) @ a), normalize(flat(view_2) @ a)
    k_1, k_2 = q_1, q_2  # the key branch starts as a copy of the query branch

    def info_nce(q, k):  # logits [q.k, q.queue^T] / tau, the positive first (moco/builder.py)
        logits = np.concatenate([np.sum(q * k, 1, keepdims=True), q @ queue.T], axis=1) / 0.2
        return cross_entropy(logits, np.zeros(B, int))

    expected = 0.5 * (info_nce(q_1, k_2) + info_nce(q_2, k_1)) if symmetric else info_nce(q_1, k_2)
    np.testing.assert_allclose(loss_of(model, (view_1, view_2)), expected, rtol=RTOL)


def test_moco_v3_two_tau_symmetric_with_per_view_batch_norm(rng):
    view_1, view_2 = two_views(rng)
    a, p = rng.normal(size=(12, 5)), rng.normal(size=(5, 5))
    tau = 0.7
    model = models.MoCoV3(pixel_encoder(), projector=linear_head(a, last_bn=True), predictor=linear_head(p),
                          temperature=tau)

    def branches(bn):
        z_1, z_2 = bn(flat(view_1) @ a, flat(view_2) @ a)
        return (z_1 @ p, z_2 @ p), (z_1, z_2)  # queries (predictor), keys (projector copy)

    def loss(bn):  # moco-v3 builder.py: contrastive_loss(q1, k2) + contrastive_loss(q2, k1), each x 2 tau
        (q_1, q_2), (k_1, k_2) = branches(bn)
        ctr = lambda q, k: cross_entropy(normalize(q) @ normalize(k).T / tau, np.arange(B)) * 2 * tau
        return ctr(q_1, k_2) + ctr(q_2, k_1)

    assert_loss_with_batch_norm(model, (view_1, view_2), loss)


def test_byol_symmetric_cosine_with_per_view_batch_norm(rng):
    view_1, view_2 = two_views(rng)
    a_1, a_2, p = rng.normal(size=(12, 6)), rng.normal(size=(6, 5)), rng.normal(size=(5, 5))
    model = models.BYOL(pixel_encoder(), projector=linear_head(a_2, hidden=a_1), predictor=linear_head(p))

    def loss(bn):  # byol: 2 - 2 cos(p_1, z'_2) + 2 - 2 cos(p_2, z'_1), the target a copy at step 0
        h_1, h_2 = bn(flat(view_1) @ a_1, flat(view_2) @ a_1)
        z_1, z_2 = np.maximum(h_1, 0) @ a_2, np.maximum(h_2, 0) @ a_2
        byol = lambda q, t: np.mean(2 - 2 * np.sum(normalize(q) * normalize(t), -1))
        return byol(z_1 @ p, z_2) + byol(z_2 @ p, z_1)

    assert_loss_with_batch_norm(model, (view_1, view_2), loss)


def test_simsiam_negative_cosine_with_per_view_batch_norm(rng):
    view_1, view_2 = two_views(rng)
    a_1, a_2, p = rng.normal(size=(12, 6)), rng.normal(size=(6, 5)), rng.normal(size=(5, 5))
    model = models.SimSiam(pixel_encoder(), projector=linear_head(a_2, last_bn=True, hidden=a_1),
                           predictor=linear_head(p))

    def loss(bn):  # simsiam builder.py / main: -(cos(p_1, z_2).mean() + cos(p_2, z_1).mean()) / 2
        h_1, h_2 = bn(flat(view_1) @ a_1, flat(view_2) @ a_1)
        z_1, z_2 = bn(np.maximum(h_1, 0) @ a_2, np.maximum(h_2, 0) @ a_2)
        cos = lambda q, z: np.mean(np.sum(normalize(q) * normalize(z), -1))
        return -(cos(z_1 @ p, z_2) + cos(z_2 @ p, z_1)) / 2

    assert_loss_with_batch_norm(model, (view_1, view_2), loss)


@pytest.mark.parametrize("joint", [False, True])
def test_vicreg_terms_with_per_view_or_joint_batch_norm(rng, joint):
    view_1, view_2 = two_views(rng)
    a_1, a_2 = rng.normal(size=(12, 6)), rng.normal(size=(6, 5))
    model = models.VICReg(pixel_encoder(), expander=linear_head(a_2, hidden=a_1), invariance=25.0, variance=25.0,
                          covariance=1.0, joint_view_batch_norm=joint)

    def loss(bn):  # main_vicreg.py VICReg.forward: mse, std hinge (unbiased var + 1e-4), off-diagonal cov^2 / D
        h_1, h_2 = bn(flat(view_1) @ a_1, flat(view_2) @ a_1)
        x, y = np.maximum(h_1, 0) @ a_2, np.maximum(h_2, 0) @ a_2
        repr_loss = np.mean((x - y) ** 2)
        x, y = x - x.mean(0), y - y.mean(0)
        std = lambda z: np.sqrt(z.var(0, ddof=1) + 1e-4)
        std_loss = np.mean(np.maximum(1 - std(x), 0)) / 2 + np.mean(np.maximum(1 - std(y), 0)) / 2
        off_diagonal = lambda c: c - np.diag(np.diag(c))
        cov = lambda z: np.sum(off_diagonal(z.T @ z / (B - 1)) ** 2) / z.shape[1]
        return 25.0 * repr_loss + 25.0 * std_loss + cov(x) + cov(y)

    assert_loss_with_batch_norm(model, (view_1, view_2), loss, joint=joint)


@pytest.mark.parametrize("lambd, scale_loss", [(0.005, 1.0), (0.02, 0.1)])
def test_barlow_twins_lambda_scale_and_per_view_batch_norm(rng, lambd, scale_loss):
    view_1, view_2 = two_views(rng)
    a_1, a_2 = rng.normal(size=(12, 6)), rng.normal(size=(6, 5))
    # barlowtwins main.py's projector: Linear, BN, ReLU, Linear; then the affine-free BN of the loss
    model = models.BarlowTwins(pixel_encoder(), projector=linear_head(a_2, last_bn=True, hidden=a_1),
                               lambd=lambd, scale_loss=scale_loss)

    def loss(bn):  # c = bn(z1)^T bn(z2) / N; on-diagonal + lambda off-diagonal (times scale_loss)
        h_1, h_2 = bn(flat(view_1) @ a_1, flat(view_2) @ a_1)
        z_1, z_2 = bn(np.maximum(h_1, 0) @ a_2, np.maximum(h_2, 0) @ a_2)
        c = batch_norm(z_1).T @ batch_norm(z_2) / B  # the loss standardises once more (eps 1e-5)
        off = c - np.diag(np.diag(c))
        return scale_loss * (np.sum((1 - np.diag(c)) ** 2) + lambd * np.sum(off ** 2))

    per_view = loss(lambda x_1, x_2: (batch_norm(x_1), batch_norm(x_2)))
    assert_loss_with_batch_norm(model, (view_1, view_2), loss, min_gap=1e-3 * per_view)


def test_pair_contrastive_margins(rng):
    x_1, x_2 = rng.uniform(size=(2, 8, S, S, 3))
    similar = np.array([1, 0, 1, 0, 0, 1, 0, 0], np.float64)
    margin = 1.4
    model = models.PairContrastive(pixel_encoder(), margin=margin)
    d = np.linalg.norm(flat(x_1) - flat(x_2), axis=1)
    dissimilar = similar == 0
    # both regimes of the hinge occur: dissimilar pairs inside and beyond the margin
    assert np.any(d[dissimilar] < margin) and np.any(d[dissimilar] > margin)
    expected = np.mean(similar * d ** 2 + (1 - similar) * np.maximum(0.0, margin - d) ** 2)
    np.testing.assert_allclose(loss_of(model, ((x_1, x_2), similar)), expected, rtol=RTOL)


def test_swav_swapped_prediction_with_sinkhorn_codes(rng):
    # 2 global crops 4x4 and 2 local crops 2x2: two encoder runs, one projector batch of 4B rows.
    crops = tuple(rng.uniform(size=(B, 4, 4, 3)) for _ in range(2)) + \
        tuple(rng.uniform(size=(B, 2, 2, 3)) * 2.0 for _ in range(2))
    a = rng.normal(size=(3, 4))
    prototypes = normalize(rng.normal(size=(5, 4))).T  # (D, K), unit columns
    model = models.SwAV(channel_mean_encoder(), projector=linear_head(a, last_bn=True), num_prototypes=5,
                        num_global=2, temperature=0.1, epsilon=0.05, sinkhorn_iterations=3)
    model.prototypes.kernel.assign(prototypes)
    features = [crop.mean(axis=(1, 2)) @ a for crop in crops]

    def loss(projected):
        scores = [normalize(z) @ prototypes for z in projected]
        return swapped_prediction(scores, 2, 0.1, 0.05, 3)

    # main_swav.py / src/resnet50.py: forward_head (the projector's BN) once on every crop's features
    all_crops = loss(np.split(batch_norm(np.concatenate(features)), 4))
    np.testing.assert_allclose(loss_of(model, crops), all_crops, rtol=RTOL)
    per_size = loss(np.split(batch_norm(np.concatenate(features[:2])), 2)
                    + np.split(batch_norm(np.concatenate(features[2:])), 2))
    assert abs(per_size - all_crops) > 1e-3 * all_crops


def test_clip_symmetric_cross_entropy_with_the_learned_scale(rng):
    vocabulary, length, width = 7, 3, 2
    images = rng.uniform(size=(B, S, S, 3))
    ids = rng.integers(0, vocabulary, size=(B, length)).astype(np.int32)
    table = rng.normal(size=(vocabulary, width))
    token_ids = keras.Input((length,), dtype="int32")
    embedding = keras.layers.Embedding(vocabulary, width)
    text_encoder = keras.Model(token_ids, keras.layers.Flatten()(embedding(token_ids)))
    embedding.embeddings.assign(table)
    model = models.CLIP(pixel_encoder(), text_encoder, embedding_dim=4)
    p_image, p_text = rng.normal(size=(12, 4)), rng.normal(size=(length * width, 4))
    model.image_projection.kernel.assign(p_image)
    model.text_projection.kernel.assign(p_text)
    model.log_scale.assign(np.log(12.5))
    image_emb = normalize(flat(images) @ p_image)
    text_emb = normalize(table[ids].reshape(B, -1) @ p_text)
    logits = 12.5 * image_emb @ text_emb.T  # CLIP's pseudocode: logits = x_i . x_t^T * exp(t)
    labels = np.arange(B)
    expected = (cross_entropy(logits, labels) + cross_entropy(logits.T, labels)) / 2
    np.testing.assert_allclose(loss_of(model, {"image": images, "text": ids}), expected, rtol=RTOL)
