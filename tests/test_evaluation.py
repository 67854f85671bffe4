"""Tests for sslzoo.evaluation: linear probe, kNN, fine-tuning, online probe, retrieval, zero-shot."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from sslzoo import data, evaluation
from sslzoo.evaluation import features as evaluation_features
from sslzoo.evaluation.online_probe import ridge_class_scores


def flatten_encoder(size=28, units=None, seed=0):
    """Images (B, size, size, 3) -> flattened pixels, or a random ReLU projection of them."""
    layers = [keras.Input((size, size, 3)), keras.layers.Flatten()]
    if units:
        layers.append(keras.layers.Dense(units, activation="relu",
                                         kernel_initializer=keras.initializers.GlorotUniform(seed)))
    return keras.Sequential(layers)


@pytest.fixture(scope="module")
def digit_features():
    """Random-projection features (64) of the bundled digits: train 4000, test 1000."""
    keras.utils.set_random_seed(0)
    encoder = flatten_encoder(units=64)
    (train_x, train_y), (test_x, test_y) = data.digits("train"), data.digits("test")
    return (evaluation.extract_features(encoder, train_x), train_y,
            evaluation.extract_features(encoder, test_x), test_y)


def separable_features(rng, n, num_classes=10, dim=16):
    labels = rng.randint(0, num_classes, n)
    centres = 5.0 * np.eye(num_classes, dim)
    return (centres[labels] + 0.3 * rng.randn(n, dim)).astype(np.float32), labels


def test_extract_features_preprocesses_like_the_formula():
    rng = np.random.RandomState(0)
    images = rng.randint(0, 256, size=(5, 28, 28, 1)).astype(np.uint8)
    features = evaluation.extract_features(flatten_encoder(), images, batch_size=2)
    expected = np.repeat(images.astype(np.float32) / 255.0, 3, axis=-1).reshape(5, -1)
    # uint8 / 255 in float32 on values <= 1: <= eps32 = 1.2e-7
    np.testing.assert_allclose(features, expected, atol=1e-6)
    assert evaluation.extract_features(flatten_encoder(size=14), images).shape == (5, 14 * 14 * 3)


def test_extract_features_rejects_non_2d_output():
    encoder = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(2, 3)])
    with pytest.raises(ValueError, match=r"encoder output must be \(batch, features\), got shape \(4, 6, 6, 2\)"):
        evaluation.extract_features(encoder, np.zeros((4, 8, 8, 3), np.uint8))


def test_top_k_accuracy_hand_case():
    scores = np.array([[0.1, 0.9, 0, 0, 0, 0], [0.5, 0.4, 0.3, 0.2, 0.1, 0.0], [0, 0, 0, 0, 0, 1.0]])
    labels = np.array([1, 5, 0])  # ranks 0, 5, 1 (tie with classes 1-4 broken towards class 0)
    assert evaluation.top_k_accuracy(scores, labels) == {"top1": 1 / 3, "top5": 2 / 3}
    assert "top5" not in evaluation.top_k_accuracy(scores[:, :3], np.array([1, 0, 0]))


def test_separable_and_random_labels():
    rng = np.random.RandomState(0)
    train_x, train_y = separable_features(rng, 400)
    test_x, test_y = separable_features(rng, 200)
    assert evaluation.linear_probe(None, train_x, train_y, test_x, test_y)["top1"] == 1.0
    assert evaluation.knn(None, train_x, train_y, test_x, test_y, k=10)["top1"] == 1.0
    shuffled = rng.permutation(train_y)
    assert evaluation.linear_probe(None, train_x, shuffled, test_x, test_y)["top1"] < 0.25
    assert evaluation.knn(None, train_x, shuffled, test_x, test_y, k=10)["top1"] < 0.25


def _softmax_regression_loss(weights, bias, x, y, l2):
    """Mean cross-entropy + l2 ||W||^2, float64 numpy."""
    logits = x.astype(np.float64) @ weights + bias
    logits -= logits.max(axis=1, keepdims=True)
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return -log_probs[np.arange(len(y)), y].mean() + l2 * np.sum(weights ** 2)


def test_linear_probe_reaches_sklearn_logistic_regression_optimum(digit_features):
    from sklearn.linear_model import LogisticRegression

    train_x, train_y, test_x, test_y = digit_features
    l2 = 1e-4
    ours = evaluation.linear_probe(None, train_x, train_y, test_x, test_y, l2=l2)
    train_std, test_std = evaluation_features.standardize(train_x, test_x)
    reference = LogisticRegression(C=1.0 / (2 * l2 * len(train_x)), max_iter=5000, tol=1e-8)
    reference.fit(train_std, train_y)
    # the features are informative: chance on 10 digit classes is 0.1
    assert reference.score(test_std, test_y) > 0.8
    # same convex objective, two solvers: predictions may differ only on near-boundary test rows
    # (0.003 = a handful of test rows), far below any real difference in the fit
    assert abs(ours["top1"] - reference.score(test_std, test_y)) <= 0.003, ours
    assert ours["l2"] == l2

    classifier = linear_probe_module().train_softmax_classifier(train_std, train_y, 10, l2)
    weights, bias = classifier.layers[0].get_weights()
    # sklearn's multinomial solution, shifted so both have zero-sum logits per class, is the same optimum.
    ours_loss = _softmax_regression_loss(weights, bias, train_std, train_y, l2)
    reference_loss = _softmax_regression_loss(reference.coef_.T, reference.intercept_, train_std, train_y, l2)
    assert ours_loss <= reference_loss + 1e-5, (ours_loss, reference_loss)
    agreement = np.mean(np.argmax(test_std @ weights + bias, 1) == reference.predict(test_std))
    assert agreement >= 0.995


def linear_probe_module():
    import importlib
    return importlib.import_module("sslzoo.evaluation.linear_probe")


def test_select_l2_uses_held_out_training_rows_and_breaks_ties_upwards():
    rng = np.random.RandomState(0)
    features, labels = separable_features(rng, 300)
    l2, scores = linear_probe_module().select_l2(features, labels, 10, grid=(1e-3, 1e-2))
    assert scores == {1e-2: 1.0, 1e-3: 1.0} and l2 == 1e-2  # separable: all perfect, largest wins
    # On noise the held-out score is near chance whatever the weight.
    noise_scores = linear_probe_module().select_l2(rng.randn(300, 8), rng.randint(0, 10, 300), 10)[1]
    assert set(noise_scores) == set(linear_probe_module().L2_GRID)
    assert max(noise_scores.values()) < 0.3


def test_select_l2_holds_out_each_class_and_small_data_falls_back():
    module = linear_probe_module()
    rng = np.random.RandomState(0)
    labels = np.repeat(np.arange(3), [30, 20, 10])
    features = rng.randn(60, 4) + labels[:, None]
    l2, scores = module.select_l2(features, labels, 3)
    assert set(scores) == set(module.L2_GRID) and scores[l2] == max(scores.values())
    # 20% of 30 / 20 / 10 rows = 12 held out; every score is a multiple of 1/12.
    # scores are k / 12 held-out rows, exact up to float64 division (eps64 x 12 << 1e-9)
    assert all(abs(score * 12 - round(score * 12)) < 1e-9 for score in scores.values())
    # A singleton class cannot give a held-out row: nothing to choose on.
    l2, scores = module.select_l2(rng.rand(16, 3), np.array([0] * 10 + [1] * 5 + [2]), 3)
    assert scores == {} and l2 == sorted(module.L2_GRID)[len(module.L2_GRID) // 2]


def test_knn_matches_independent_weighted_vote(digit_features):
    train_x, train_y, test_x, test_y = digit_features
    test_x, test_y = test_x[:300], test_y[:300]
    k, temperature = 20, 0.07
    train_unit = train_x / np.linalg.norm(train_x, axis=1, keepdims=True)
    expected_scores = np.zeros((len(test_x), 10))
    for i, query in enumerate(test_x):
        similarity = train_unit @ (query / np.linalg.norm(query))
        for j in np.argsort(-similarity)[:k]:
            expected_scores[i, train_y[j]] += np.exp(similarity[j] / temperature)
    scores = evaluation.knn_class_scores(train_x, train_y, test_x, 10, k, temperature, chunk_size=128)
    # float32 cosine similarities err by ~eps32 x D (feature dim); exp(s / 0.07) multiplies that by
    # 1/0.07 = 14: ~1e-4 relative per vote -> rtol 1e-3; the argmax check below is exact
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-3)
    np.testing.assert_array_equal(scores.argmax(1), expected_scores.argmax(1))
    result = evaluation.knn(None, train_x, train_y, test_x, test_y, k=k, temperature=temperature)
    assert result["top1"] == np.mean(expected_scores.argmax(1) == test_y)
    # chance 0.1; a temperature-weighted kNN on these features is well above 0.8 (the sklearn probe above too)
    assert result["top1"] > 0.8


def test_knn_on_encoder_and_bad_k():
    train_x, train_y = data.digits("test")
    result = evaluation.knn(flatten_encoder(), train_x[:800], train_y[:800], train_x[800:], train_y[800:])
    # kNN on raw digit pixels with 800 references: ~0.9 expected, chance 0.1; top5 >= top1 by definition
    assert result["top1"] > 0.8 and result["top5"] >= result["top1"]
    with pytest.raises(ValueError, match="`k` must be in"):
        evaluation.knn(None, np.ones((3, 2)), np.arange(3), np.ones((1, 2)), np.zeros(1, int), k=5)


def test_fine_tune_trains_a_copy():
    images, labels = data.digits("test")
    encoder = flatten_encoder(units=32)
    before = [w.copy() for w in encoder.get_weights()]
    traced = []

    def augment(batch):
        traced.append(batch.shape)
        return tf.image.flip_left_right(tf.image.flip_left_right(batch))

    result = evaluation.fine_tune(encoder, images[:800], labels[:800], images[800:], labels[800:],
                                  epochs=3, learning_rate=3e-3, augment=augment)
    # 3 epochs on 800 digits from a random encoder: a linear model on pixels reaches ~0.85; chance 0.1
    assert result["top1"] > 0.7 and traced
    for old, new in zip(before, encoder.get_weights()):
        np.testing.assert_array_equal(old, new)
    few = evaluation.fine_tune(encoder, images[:800], labels[:800], images[800:], labels[800:],
                               epochs=3, learning_rate=3e-3, label_fraction=0.1)
    assert 0.3 < few["top1"] < result["top1"]


def test_ridge_probe_matches_least_squares():
    rng = np.random.RandomState(1)
    train_x, train_y = rng.randn(50, 4), rng.randint(0, 3, 50)
    test_x = rng.randn(7, 4)
    ridge = 0.1
    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    design = np.c_[(train_x - mean) / std, np.ones(50)]
    # Ridge as ordinary least squares on rows augmented with sqrt(ridge * N) * I.
    stacked = np.r_[design, np.sqrt(ridge * 50) * np.eye(5)]
    targets = np.r_[np.eye(3)[train_y], np.zeros((5, 3))]
    weights = np.linalg.lstsq(stacked, targets, rcond=None)[0]
    expected = np.c_[(test_x - mean) / std, np.ones(7)] @ weights
    # float64 both ways, a 55x5 well-conditioned (ridge 0.1) least squares: eps64 x cond^2 ~ 1e-13; 1e-8
    np.testing.assert_allclose(ridge_class_scores(train_x, train_y, test_x, 3, ridge), expected, atol=1e-8)


class TinyObjective(keras.Model):
    """A stand-in for an sslzoo objective: exposes `encoder`, trains a head on it."""

    def __init__(self):
        super().__init__()
        self.encoder = flatten_encoder(units=32)
        self.head = keras.layers.Dense(10)

    def call(self, images):
        return self.head(self.encoder(images))


def test_online_linear_probe_logs_probe_top1():
    images, labels = data.digits("test")
    float_images = evaluation.features.eval_images(images[:256], 28)
    probe = evaluation.OnlineLinearProbe(images[:600], labels[:600], images[600:], labels[600:])
    model = TinyObjective()
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(float_images, labels[:256], epochs=2, batch_size=64, verbose=0, callbacks=[probe])
    accuracies = history.history["probe_top1"]
    assert len(accuracies) == 2 and all(0.5 < a <= 1.0 for a in accuracies)
    with pytest.raises(ValueError, match="every_n_epochs"):
        evaluation.OnlineLinearProbe(images, labels, images, labels, every_n_epochs=0)
    subset = evaluation.OnlineLinearProbe(images[:600], labels[:600], images[600:], labels[600:],
                                          max_train_examples=100)
    assert len(subset.train_images) == len(subset.train_labels) == 100
    rows = {image.tobytes() for image in images[:600]}
    assert all(image.tobytes() in rows for image in subset.train_images)
    with pytest.raises(ValueError, match="max_train_examples"):
        evaluation.OnlineLinearProbe(images, labels, images[:5], labels[:5], max_train_examples=0)


def _ranked_queries(orders):
    """Queries whose cosine similarities to the one-hot gallery follow the given orders."""
    n = len(orders[0])
    queries = np.zeros((len(orders), n))
    for i, order in enumerate(orders):
        queries[i, order] = np.arange(n, 0, -1)
    return queries, np.eye(n)


def test_retrieval_known_ranks():
    orders = [[0, 1, 2, 3, 4], [0, 2, 1, 3, 4], [1, 2, 0, 3, 4], [0, 1, 2, 4, 3], [4, 3, 2, 1, 0]]
    queries, gallery = _ranked_queries(orders)  # ranks of the diagonal: 1, 3, 2, 5, 1
    np.testing.assert_array_equal(evaluation.retrieval_ranks(queries, gallery), [1, 3, 2, 5, 1])
    metrics = evaluation.retrieval(queries, gallery, ks=(1, 2, 3))
    # ratios of small integer counts: approx (rel 1e-6) only absorbs float64 division rounding
    assert metrics == pytest.approx({"R@1": 0.4, "R@2": 0.6, "R@3": 0.8, "median_rank": 2.0, "mean_rank": 2.4})
    with pytest.raises(ValueError, match="lengths must agree"):
        evaluation.retrieval(queries[:3], gallery)


def test_retrieval_many_captions_per_image_both_directions():
    images = np.eye(3)
    # Two captions per image; caption 3 (of image 1) points at image 2 instead.
    captions = np.array([[1, 0, 0], [1, 0.1, 0], [0, 1, 0], [0, 0.2, 1], [0, 0, 1], [0.1, 0, 1]], float)
    caption_ids = np.array([0, 0, 1, 1, 2, 2])
    metrics = evaluation.bidirectional_retrieval(images, captions, ks=(1, 5), b_ids=caption_ids)
    # text -> image: ranks 1, 1, 1, 2, 1, 1.  image -> text: every image's best caption is its own.
    assert metrics["text_to_image/R@1"] == pytest.approx(5 / 6)
    assert metrics["text_to_image/mean_rank"] == pytest.approx(7 / 6)
    assert metrics["image_to_text/R@1"] == 1.0 and metrics["image_to_text/median_rank"] == 1.0
    assert set(metrics) == {f"{d}/{m}" for d in ("image_to_text", "text_to_image")
                            for m in ("R@1", "R@5", "median_rank", "mean_rank")}


class FakeClip:
    """encode_text: the named class's axis plus a template-specific offset that averages out."""

    names = ("cat", "dog", "bird")

    def encode_text(self, strings):
        rows = []
        for text in strings.numpy():
            text = text.decode()
            row = np.zeros(4)
            row[[n in text for n in self.names].index(True)] = 1.0
            row[3] = 0.9 if text.startswith("a photo") else -0.9
            rows.append(row)
        return tf.constant(rows, tf.float32)

    def encode_image(self, images):
        return tf.reshape(tf.cast(images, tf.float32), (len(images), -1))


def test_zero_shot_with_a_fake_image_text_model():
    model, templates = FakeClip(), ["a photo of a {}.", "art of the {}"]
    classes = evaluation.class_embeddings(model, model.names, templates)
    np.testing.assert_allclose(classes, np.eye(3, 4), atol=1e-6)  # offsets cancel after normalising
    rng = np.random.RandomState(0)
    labels = rng.randint(0, 3, 30)
    images = (np.eye(3, 4)[labels] + 0.05 * rng.randn(30, 4) + [0, 0, 0, 2.0]).reshape(30, 1, 1, 4)
    images[:6, 0, 0, :3] = np.eye(3)[(labels[:6] + 1) % 3]  # six images look like the next class
    result = evaluation.zero_shot(model, images, labels, model.names, templates, batch_size=7)
    # 24 of 30 images are correct by construction (six look like the next class): exact count
    assert result == {"top1": pytest.approx(24 / 30)}
    with pytest.raises(ValueError, match="templates"):
        evaluation.zero_shot(model, images, labels, model.names, ["no placeholder"])


def test_online_probe_runs_after_the_first_epoch_and_every_nth(tmp_path):
    """The first epoch carries the key, so a CSVLogger created then has the column."""
    images, labels = data.digits("test")
    float_images = evaluation.features.eval_images(images[:128], 28)
    probe = evaluation.OnlineLinearProbe(images[:300], labels[:300], images[300:400], labels[300:400],
                                         every_n_epochs=3)
    csv_path = tmp_path / "history.csv"
    model = TinyObjective()
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(float_images, labels[:128], epochs=4, batch_size=64, verbose=0,
              callbacks=[probe, keras.callbacks.CSVLogger(str(csv_path))])
    rows = csv_path.read_text().splitlines()
    column = rows[0].split(",").index("probe_top1")
    values = [row.split(",")[column] for row in rows[1:]]
    assert values[1] == values[3] == "NA" and "NA" not in (values[0], values[2])
