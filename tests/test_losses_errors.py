"""sslzoo.losses reject bad input with a ValueError naming the argument and the shapes seen."""
import numpy as np
import pytest
import tensorflow as tf

from sslzoo import losses

X = np.ones((4, 3), np.float32)
Y = np.ones((4, 3), np.float32)


@pytest.mark.parametrize(
    "call,pattern",
    [
        (lambda: losses.nt_xent(X, np.ones((4, 5))), r"`z1` and `z2`.*\(4, 3\).*\(4, 5\)"),
        (lambda: losses.nt_xent(np.ones(4), np.ones(4)), r"`z1` must have rank 2.*\(4,\)"),
        (lambda: losses.nt_xent(X, Y, temperature=0.0), r"`temperature` must be a positive number"),
        (lambda: losses.nt_xent(X, Y, temperature=-1.0), r"`temperature` must be a positive number"),
        (lambda: losses.info_nce(X, np.ones((5, 3))), r"`query` and `key`.*\(4, 3\).*\(5, 3\)"),
        (lambda: losses.info_nce(X, Y, np.ones((6, 2))), r"`queue` axis 1.*\(3\).*\(6, 2\)"),
        (lambda: losses.info_nce(X, Y, np.ones(6)), r"`queue` must have rank 2"),
        (lambda: losses.info_nce(X, Y, temperature=tf.constant(0.0)), r"`temperature` must be a positive"),
        (lambda: losses.margin_contrastive(X, Y, np.ones(3)), r"`similar` axis 0.*\(4\).*\(3,\)"),
        (lambda: losses.margin_contrastive(X, Y, np.ones((4, 1))), r"`similar` must have rank 1"),
        (lambda: losses.margin_contrastive(X, Y, np.ones(4), margin=0), r"`margin` must be a positive"),
        (lambda: losses.barlow_twins(X, np.ones((4, 2))), r"`z1` and `z2`.*\(4, 3\).*\(4, 2\)"),
        (lambda: losses.barlow_twins(X, Y, lambd=-0.1), r"`lambd` must be a non-negative"),
        (lambda: losses.sinkhorn(np.ones((2, 3, 4))), r"`scores` must have rank 2.*\(2, 3, 4\)"),
        (lambda: losses.sinkhorn(X, epsilon=0.0), r"`epsilon` must be a positive"),
        (lambda: losses.sinkhorn(X, iterations=0), r"`iterations` must be an integer >= 1, got 0"),
        (lambda: losses.sinkhorn(X, iterations=2.5), r"`iterations` must be an integer"),
        (lambda: losses.swav([]), r"`scores` must be a list of at least 2.*got 0"),
        (lambda: losses.swav([X]), r"`scores` must be a list of at least 2.*got 1"),
        (lambda: losses.swav(X), r"`scores` must be a list.*ndarray"),
        (lambda: losses.swav([X, np.ones((4, 5))]), r"`scores\[1\]` and `scores\[0\]`.*\(4, 5\).*\(4, 3\)"),
        (lambda: losses.swav([X, Y], num_global=3), r"`num_global` must be at most len\(scores\) = 2, got 3"),
        (lambda: losses.swav([X, Y], num_global=0), r"`num_global` must be an integer >= 1, got 0"),
        (lambda: losses.swav([X, Y], temperature=-0.1), r"`temperature` must be a positive"),
        (lambda: losses.swav([X, Y], epsilon=0.0), r"`epsilon` must be a positive"),
        (lambda: losses.clip(X, np.ones((3, 3)), 10.0), r"`image_emb` and `text_emb`.*\(4, 3\).*\(3, 3\)"),
        (lambda: losses.clip(X, Y, 0.0), r"`scale` must be a positive"),
        (lambda: losses.clip(X, Y, np.array([1.0, 2.0])), r"`scale` must be a positive number"),
        (lambda: losses.nce(X, np.ones((4, 2))), r"`x` and `y`.*\(4, 3\).*\(4, 2\)"),
        (lambda: losses.nce(X, Y, temperature=0), r"`temperature` must be a positive"),
        (lambda: losses.mil_nce(X, np.ones((4, 3))), r"`text` must have rank 3.*\(4, 3\)"),
        (lambda: losses.mil_nce(np.ones(4), np.ones((4, 2, 3))), r"`video` must have rank 2.*\(4,\)"),
        (lambda: losses.mil_nce(X, np.ones((5, 2, 3))), r"`text` axis 0.*batch of `video` \(4\).*\(5, 2, 3\)"),
        (lambda: losses.mil_nce(X, np.ones((4, 2, 6))), r"`text` axis 2.*dim of `video` \(3\).*\(4, 2, 6\)"),
        (lambda: losses.mil_nce(X, np.ones((4, 2, 3)), np.ones((4, 3))), r"`text_mask` axis 1.*K of `text` \(2\)"),
        (lambda: losses.mil_nce(X, np.ones((4, 2, 3)), np.ones((5, 2))), r"`text_mask` axis 0.*\(4\).*\(5, 2\)"),
        (lambda: losses.mil_nce(X, np.ones((4, 2, 3)), np.ones(4)), r"`text_mask` must have rank 2.*\(4,\)"),
        (lambda: losses.mil_nce(X, np.ones((4, 2, 3)), temperature=0.0), r"`temperature` must be a positive"),
        (lambda: losses.nt_xent(np.array([["a"]]), np.array([["b"]])), r"`z1` must be a numeric tensor"),
    ],
)
def test_bad_input_raises_value_error(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()


def test_shape_checks_run_at_trace_time_inside_tf_function():
    @tf.function(input_signature=[tf.TensorSpec([None, 3]), tf.TensorSpec([None, 2, 4])])
    def traced(video, text):
        return losses.mil_nce(video, text)

    with pytest.raises(ValueError, match=r"`text` axis 2.*\(3\)"):
        traced.get_concrete_function()


def test_unknown_batch_and_runtime_scale_are_accepted():
    @tf.function(input_signature=[tf.TensorSpec([None, 3]), tf.TensorSpec([None, 3]), tf.TensorSpec([])])
    def traced(x, y, scale):
        return losses.clip(x, y, scale)

    value = traced(X, Y, tf.constant(5.0))
    assert value.dtype == tf.float32 and np.isfinite(value.numpy())
    # All pairs identical: uniform softmax, log 4 exactly; float32 leaves logits 5 x eps32 and a
    # 4-term log-sum-exp: ~(5 + 2 + 2) x 1.2e-7 = 1.1e-6 abs on 1.39 -> rel 1e-5 is 10x that.
    assert value.numpy() == pytest.approx(np.log(4.0), rel=1e-5)
