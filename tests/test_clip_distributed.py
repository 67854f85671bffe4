"""CLIP under MirroredStrategy: a fit step on 2 replicas equals the same step on one device."""
import os

from testing_utils import run_python

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))

SCRIPT = """
import sys, numpy as np, keras
sys.path.insert(0, {tests_dir!r})
from testing_utils import write_result
from sslzoo import backbones, text
from sslzoo.data import captions
from sslzoo.models.clip import CLIP

corpus = [t.format(n) for t in captions.TRAIN_TEMPLATES for n in captions.DIGIT_CLASS_NAMES]
tokenizer = text.Tokenizer(text.learn_vocabulary(corpus, 150), 10)
# Two fixed global batches of 16, materialised once so both runs see the same data.
source = captions.digit_caption_dataset("train", tokenizer, batch_size=16, image_size=16, limit=32, shuffle=False)
batches = [{{k: v.numpy() for k, v in b.items()}} for b in source]
data = {{k: np.concatenate([b[k] for b in batches]) for k in batches[0]}}

def make():
    image_encoder = backbones.small_cnn(input_shape=(16, 16, 3), widths=(8, 16), synchronized_bn=True)
    text_encoder = text.TransformerTextEncoder(tokenizer.vocabulary_size, 10, width=16, depth=1, heads=2)
    return CLIP(image_encoder, text_encoder, tokenizer, embedding_dim=8)

# One strategy of each kind per process (fresh MirroredStrategy objects disagree on collective keys).
one_device = tf.distribute.OneDeviceStrategy("/cpu:0")
mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])

def trained(strategy, initial):
    with strategy.scope():
        keras.utils.set_random_seed(7)
        model = make()
        if initial is not None:
            model.set_weights(initial)
        start = model.get_weights()
        model.compile(optimizer=keras.optimizers.SGD(0.02, momentum=0.9))
    dataset = tf.data.Dataset.from_tensor_slices(data).batch(16, drop_remainder=True)
    history = model.fit(dataset, epochs=1, steps_per_epoch=2, verbose=0, shuffle=False)
    return model, start, history.history

single, start, single_logs = trained(one_device, None)
split, _, split_logs = trained(mirrored, start)
diffs = [float(np.max(np.abs(a - b))) for a, b in zip(single.get_weights(), split.get_weights())]
initial = make()
initial.set_weights(start)
moved = {{tower: max(float(np.max(np.abs(a.numpy() - b.numpy())))
                     for a, b in zip(single.encoders[tower].weights, initial.encoders[tower].weights))
          for tower in ("image", "text")}}
copies = [float(np.asarray(v)) for v in split.log_scale.value.values]
write_result({{
    "max_weight_diff": max(diffs), "worst": single.weights[int(np.argmax(diffs))].path, "moved": moved,
    "log_scale_copies": copies, "single_log_scale": float(single.log_scale),
    "single_loss": single_logs["loss"][-1], "split_loss": split_logs["loss"][-1],
}})
"""


def test_clip_fit_step_split_over_two_replicas_matches_one_device(tmp_path):
    result = run_python(SCRIPT.format(tests_dir=TESTS_DIR), devices=2, tmp_path=tmp_path)
    assert result["moved"]["image"] > 1e-4 and result["moved"]["text"] > 1e-4, result["moved"]
    assert result["max_weight_diff"] <= 1e-5, result
    assert abs(result["log_scale_copies"][0] - result["log_scale_copies"][1]) == 0.0
    assert abs(result["log_scale_copies"][0] - result["single_log_scale"]) <= 1e-5
    assert abs(result["single_loss"] - result["split_loss"]) <= 1e-5, result
