"""One battery of checks for every objective, in the spirit of keras-hub's TestCase.

Every objective in the registry (`sslzoo.models.available()`, plus the harness
`VARIANTS`) is tested; one with a batch other than two views adds its layout to
`batch_layout`. For each:

- `check_fit_lowers_loss`: a few epochs of `model.fit` on real digits lower the loss;
- `check_keras_roundtrip`: a `.keras` file reloads with identical outputs;
- `split_equivalence_script`: in a child process with 2 logical CPUs, two `fit`
  steps on 2 replicas leave the same weights as on one device: to <= 1e-9 in
  float64 (the algorithm is split-exact), and in float32 to within a tolerance
  derived from the rounding floor measured in the same run (`float32_tolerance`).

tests/test_xla.py runs the same factories compiled with XLA, with the same
derived float32 tolerance.

Encoders are `tiny_models.image_encoder` (16x16 inputs, 8/16 channels) with
synchronized batch norm, so global-batch statistics make the replica split exact.
"""
import json

import numpy as np

import tiny_models

IMAGE_SIZE = tiny_models.IMAGE_SIZE
# Harness variants of registered objectives: name -> registered name.
VARIANTS = {"swav_queue": "swav"}
# Registered objectives the image battery cannot feed (they train on AV clips and
# have a battery of their own), with the test file that covers them.
OWN_BATTERY = {"mmv": "tests/test_mmv.py"}


def base_name(name):
    """The registered objective behind harness name `name`."""
    return VARIANTS.get(name, name)


def objective_names():
    """Every registered objective (but OWN_BATTERY's) plus the harness variants, in a stable order."""
    from sslzoo import models

    return tuple(n for n in models.available() if n not in OWN_BATTERY) + tuple(VARIANTS)


OBJECTIVES = objective_names()
# CLIP's test captions: token ids [1, 2 + digit, 2 + (digit + 1) % 10, 0, ...].
CLIP_VOCABULARY = 16
CLIP_SEQUENCE_LENGTH = 6
# Epochs whose loss is not comparable: MoCo v2 starts with a queue of random
# keys (an easy task) that the first epoch replaces with real ones.
SETTLING_EPOCHS = {"moco_v2": 1}
# Split equivalence: 2 fit steps (the second uses the state the first wrote:
# optimizer slots, momentum encoder, queue, prototypes) of SGD at the rate the
# fit test trains with, every objective alike.
SPLIT_STEPS = 2
LEARNING_RATE = 0.05
SPLIT_BATCH = 16

# float64: the 1-vs-2-replica difference of a split-exact algorithm is float64
# rounding amplified by two steps, ~1e-13 measured; a split bug (a per-replica
# statistic) gives 1e-3 and more. 1e-9 leaves four orders either side.
FLOAT64_TOLERANCE = 1e-9

# float32: the tolerance is FLOOR_FACTOR x the rounding floor measured in the same
# run (`rounding_floor`): the largest weight difference between single-device runs
# on the same global batches with the rows of each batch in another order (two
# orders) or from initial weights one float32 spacing away (two draws). A
# replica split changes the order of the same sums, so a correct split lands at
# the floor (SimCLR: 2.1e-4 split vs 2.1e-4 to 2.7e-4 floor); factor 10 is headroom
# for which sums a split reorders. The floor is never taken below the float32
# spacing of the largest weight (2^-23 |w|max): the step cannot be more exact.
FLOOR_FACTOR = 10.0
FLOAT32_EPSILON = 2.0 ** -23
def tiny_encoder(synchronized_bn=True):
    """`tiny_models.image_encoder` with synchronized BN (the battery's replica splits need it)."""
    return tiny_models.image_encoder(synchronized_bn=synchronized_bn)


def make_objective(name, encoder=None):
    """A small instance of objective `name` (see OBJECTIVES)."""
    from sslzoo import heads, models, text

    encoder = encoder or tiny_encoder()

    def head(out=16, **kw):
        return heads.ProjectionHead(hidden_dims=(32,), output_dim=out, synchronized_bn=True, **kw)

    if name == "simclr":
        return models.SimCLR(encoder, projector=head(), temperature=0.2)
    if name == "moco_v2":
        return models.MoCoV2(encoder, projector=head(), queue_size=64, momentum=0.99)
    if name == "moco_v3":
        predictor = heads.PredictionHead(hidden_dim=32, output_dim=16, synchronized_bn=True)
        return models.MoCoV3(encoder, projector=head(), predictor=predictor, momentum_schedule_steps=20)
    if name == "barlow_twins":
        return models.BarlowTwins(encoder, projector=head(32, last_bn=True, last_bn_affine=False), lambd=0.01)
    if name == "swav":
        return models.SwAV(encoder, projector=head(), num_prototypes=10, freeze_prototypes_steps=1)
    if name == "swav_queue":  # a queue of one global batch, in use from the second step
        return models.SwAV(encoder, projector=head(), num_prototypes=10, queue_length=16, queue_start_step=1)
    if name == "pair_contrastive":
        return models.PairContrastive(encoder, margin=2.0)
    if name == "clip":
        text_encoder = tiny_models.text_encoder(CLIP_VOCABULARY, CLIP_SEQUENCE_LENGTH)
        return models.CLIP(encoder, text_encoder, embedding_dim=16)
    if name == "vicreg":  # a 32-wide expander: the default 16F = 256 makes the float32 floor test noisy
        return models.VICReg(encoder, expander=heads.ProjectionHead(hidden_dims=(32, 32), output_dim=32,
                                                                    synchronized_bn=True))
    # Any other registered objective: its defaults on the tiny encoder (defaults scale with F).
    return models.get(name)(encoder)


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


def caption_ids(labels):
    """Token ids (N, CLIP_SEQUENCE_LENGTH) int32 of a two-word caption naming each digit label."""
    ids = np.zeros((len(labels), CLIP_SEQUENCE_LENGTH), np.int32)
    ids[:, 0] = 1
    ids[:, 1] = 2 + labels
    ids[:, 2] = 2 + (labels + 1) % 10
    return ids


def batch_layout(name, view_1, view_2, labels=None):
    """Arranges two views into the batch structure objective `name` trains on.

    Read from the objective's `batch_spec`, so a newly registered objective on
    two views, crops, pairs or captions needs no entry here.
    """
    from sslzoo import models
    from sslzoo.models.batch_spec import Crops

    spec = models.get(base_name(name)).batch_spec
    if isinstance(spec, dict) and set(spec) == {"image", "text"}:
        if labels is None:
            labels = np.arange(len(view_1)) % 10
        return {"image": view_1, "text": caption_ids(np.asarray(labels))}
    if isinstance(spec, Crops):
        return (view_1, view_2, view_1[:, ::-1], view_2[:, :, ::-1])
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], tuple):  # ((x1, x2), similar)
        rng = np.random.default_rng(1)
        partner = rng.permutation(len(view_1))
        similar = rng.random(len(view_1)) < 0.5
        if labels is not None:
            similar_to = np.where(similar, np.arange(len(view_1)), partner)
            target = (labels == labels[similar_to]).astype(np.float32)
        else:
            similar_to, target = np.where(similar, np.arange(len(view_1)), partner), similar.astype(np.float32)
        return ((view_1, view_2[similar_to]), target)
    if isinstance(spec, tuple) and len(spec) == 2:
        return (view_1, view_2)
    raise ValueError(f"objective_harness has no batch builder for {name!r}'s batch_spec {spec!r}")


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
    # The same weights and graph: any difference is kernel nondeterminism, none expected on CPU.
    np.testing.assert_allclose(restored.predict(images, verbose=0), model.predict(images, verbose=0),
                               rtol=1e-6, atol=1e-6)
    assert len(restored.weights) == len(model.weights)
    for a, b in zip(restored.weights, model.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=a.path)
    as_json = lambda m: json.dumps(m.get_config(), sort_keys=True)  # tuples and lists alike
    assert as_json(restored) == as_json(model)
    return restored




# ------------------------------------------------------- split equivalence
def block_permuted(data, batch_size, seed):
    """`data` with the rows of every consecutive `batch_size` block in a new order.

    The same permutation applies to every array of the structure, so pairs stay
    pairs; each batch then holds the same examples as before.
    """
    import keras

    leaves = keras.tree.flatten(data)
    rng = np.random.default_rng(seed)
    count = len(leaves[0])
    order = np.concatenate([start + rng.permutation(min(batch_size, count - start))
                            for start in range(0, count, batch_size)])
    return keras.tree.pack_sequence_as(data, [leaf[order] for leaf in leaves])


def as_dtype(data, dtype):
    """Every floating array of `data` cast to `dtype` (token ids stay int)."""
    import keras

    return keras.tree.map_structure(lambda a: a.astype(dtype) if a.dtype.kind == "f" else a, data)


def fit_steps(name, data, initial=None, strategy=None, jit_compile=False, steps=SPLIT_STEPS,
              learning_rate=LEARNING_RATE, batch_size=SPLIT_BATCH):
    """Objective `name` built in `strategy`'s scope (seed 7, or `initial` weights), after
    `steps` SGD steps on `data`. Returns (model, its starting weights)."""
    import keras
    import tensorflow as tf

    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        keras.utils.set_random_seed(7)
        model = make_objective(name)
        if initial is not None:
            model.set_weights(initial)
        start = model.get_weights()
        model.compile(optimizer=keras.optimizers.SGD(learning_rate, momentum=0.9), jit_compile=jit_compile)
    model.fit(dataset(data, batch_size), epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)
    return model, start


def weight_difference(model_a, model_b, trainable_only=False):
    """(max |w_a - w_b| over all (or the trainable) weights, path of the worst weight)."""
    pairs = zip(model_a.trainable_weights, model_b.trainable_weights) if trainable_only else \
        zip(model_a.weights, model_b.weights)
    diffs = [(float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)))), a.path)
             for a, b in pairs if np.size(a)]
    return max(diffs)


def largest_weight(model):
    return max(float(np.max(np.abs(w))) for w in model.get_weights() if np.size(w) and w.dtype.kind == "f")


def float32_tolerance(floor, model):
    """FLOOR_FACTOR x max(measured floor, float32 spacing of the largest weight)."""
    return FLOOR_FACTOR * max(floor, FLOAT32_EPSILON * largest_weight(model))


def ulp_perturbed(weights, seed):
    """Every floating weight moved by one float32 spacing, up or down at random."""
    rng = np.random.default_rng(seed)
    return [w + (rng.choice([-1.0, 1.0], size=w.shape) * np.spacing(np.abs(w).astype(np.float32))).astype(w.dtype)
            if w.dtype.kind == "f" else w for w in weights]


def rounding_floor(name, data, initial, reference, fit=None):
    """How far rounding alone moves the steps: the largest trainable-weight difference of
    `reference` from runs on `data` (same device) that differ from it only by rounding:

    - each batch's rows in two other orders (the same sums, reordered);
    - the initial weights moved by one float32 spacing, two random ways (the step's
      amplification of one rounding; kernel libraries that do not reorder on a row
      permutation, oneDNN's, leave the first near zero on ill-conditioned steps).

    `fit(data, initial) -> model`. Trainable weights only: state stored in batch order
    (MoCo's queue rows) moves with the permutation itself, not with rounding.
    """
    fit = fit or (lambda d, w: fit_steps(name, d, w)[0])
    runs = [fit(block_permuted(data, SPLIT_BATCH, seed), initial) for seed in (1, 2)]
    runs += [fit(data, ulp_perturbed(initial, seed)) for seed in (1, 2)]
    return max(weight_difference(reference, run, trainable_only=True)[0] for run in runs)


def set_float_dtype(dtype):
    """Variables and computation of layers built from now on in `dtype`.

    Both settings: Keras caches the global dtype policy on first use, so floatx alone
    does not switch back.
    """
    import keras

    keras.config.set_floatx(dtype)
    keras.config.set_dtype_policy(dtype)


def split_case(name, data, one_device, mirrored, dtype):
    """One objective, one dtype: 1 vs 2 replicas (and in float32 the rounding floor)."""
    set_float_dtype(dtype)
    try:
        data = as_dtype(data, dtype)
        single, start = fit_steps(name, data, strategy=one_device)
        split, _ = fit_steps(name, data, initial=start, strategy=mirrored)
        diff, worst = weight_difference(single, split)
        entry = {"max_weight_diff": diff, "worst": worst,
                 "moved": max(float(np.max(np.abs(a - b))) for a, b in zip(single.get_weights(), start)
                              if a.size and a.dtype.kind == "f")}
        if dtype == "float32":
            entry["floor"] = rounding_floor(name, data, start, single,
                                            fit=lambda d, w: fit_steps(name, d, w, strategy=one_device)[0])
            entry["tolerance"] = float32_tolerance(entry["floor"], single)
        if name == "moco_v2":
            copies = [np.asarray(v) for v in split.queue.value.values]
            entry["queue_replica_diff"] = float(np.max(np.abs(copies[0] - copies[1])))
            entry["queue_vs_single"] = float(np.max(np.abs(copies[0] - np.asarray(single.queue))))
            entry["pointer"] = int(np.asarray(split.queue_pointer))
        return entry
    finally:
        set_float_dtype("float32")


# Split bugs the float32 and float64 checks must catch (see `inject_split_bug`).
SPLIT_BUGS = {"barlow_statistics": "barlow_twins", "sinkhorn_sums": "swav", "moco_queue": "moco_v2"}


def inject_split_bug(bug):
    """Monkeypatches sslzoo with a classic replica bug (child processes only; not undone).

    - barlow_statistics: Barlow Twins standardises with this replica's mean and
      variance instead of the global batch's;
    - sinkhorn_sums: Sinkhorn's column sums run over this replica's rows (times
      the replica count) instead of the global batch;
    - moco_queue: MoCo enqueues this replica's keys (tiled to the global batch)
      instead of the keys gathered from every replica.
    """
    import types

    import tensorflow as tf

    from sslzoo import replica
    from sslzoo.losses import clustering, redundancy
    from sslzoo.models import moco_v2

    if bug == "barlow_statistics":
        def local_standardize(z, global_batch):
            del global_batch
            mean, variance = tf.nn.moments(z, axes=[0])
            return (z - mean) * tf.math.rsqrt(variance + redundancy._VARIANCE_EPSILON)
        redundancy._standardize = local_standardize
    elif bug == "sinkhorn_sums":
        def local_logsumexp(log_q, log_extra=None):
            del log_extra
            replicas = tf.cast(replica.num_replicas(), log_q.dtype)
            return tf.reduce_logsumexp(log_q, axis=0, keepdims=True) + tf.math.log(replicas)
        clustering._global_logsumexp_over_batch = local_logsumexp
    elif bug == "moco_queue":
        tiled = types.SimpleNamespace(**{k: getattr(replica, k) for k in dir(replica) if not k.startswith("__")})
        tiled.all_gather = lambda x: tf.tile(x, [replica.num_replicas()] + [1] * (len(x.shape) - 1))
        moco_v2.replica = tiled
    else:
        raise ValueError(f"unknown bug {bug!r}; known: {sorted(SPLIT_BUGS)}")


# The child script for split equivalence: one process, every objective, both dtypes.
SPLIT_EQUIVALENCE_SCRIPT = """
import sys, numpy as np
sys.path.insert(0, {tests_dir!r})
import objective_harness as H
from testing_utils import write_result
from tiny_models import load_digits

images, _ = load_digits(H.SPLIT_BATCH * H.SPLIT_STEPS)
view_1, view_2 = H.fixed_views(images)
# One strategy of each kind for the whole process: fresh MirroredStrategy
# objects in one process can disagree on collective instance keys.
one_device = tf.distribute.OneDeviceStrategy("/cpu:0")
mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
bug = {bug!r}
if bug:
    H.inject_split_bug(bug)
results = {{}}
for name in {names!r}:
    data = H.batch_layout(name, view_1, view_2)
    results[name] = {{dtype: H.split_case(name, data, one_device, mirrored, dtype)
                     for dtype in ("float64", "float32")}}
write_result(results)
"""


def split_equivalence_script(names, tests_dir, bug=None):
    return SPLIT_EQUIVALENCE_SCRIPT.format(names=tuple(names), tests_dir=tests_dir, bug=bug)
