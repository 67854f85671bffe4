"""Learning-rate schedules and the batch-size scaling rule of SimCLR."""
import math

import keras
from keras import ops

SCALINGS = ("linear", "sqrt")


@keras.saving.register_keras_serializable(package="sslzoo")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup from 0 to the peak, then cosine decay to the end value.

        step <  warmup:  lr = peak * step / warmup_steps
        step >= warmup:  p  = min(1, (step - warmup_steps) / (total_steps - warmup_steps))
                         lr = end + (peak - end) * (1 + cos(pi * p)) / 2

    Steps past `total_steps` stay at `end_learning_rate`.

    Recipes state the end value absolutely or as a fraction of the peak:
    Barlow Twins' main.py ends at `base_lr * 0.001` (`end_fraction=1e-3`), SwAV's
    scripts/swav_800ep_pretrain.sh at `--final_lr 0.0048` with `--base_lr 4.8`
    (also `end_fraction=1e-3`); SimCLR and MoCo v2/v3 decay to 0 (the default).

    Args:
      peak_learning_rate: value reached at the end of warmup (>= 0).
      total_steps: length of the whole schedule (> 0).
      warmup_steps: 0 <= warmup_steps <= total_steps.
      end_learning_rate: final value (>= 0).
      end_fraction: the final value as a fraction of the peak, in [0, 1]; replaces
        `end_learning_rate` (give one or the other).
    """

    def __init__(self, peak_learning_rate, total_steps, warmup_steps, end_learning_rate=0.0, end_fraction=None):
        if peak_learning_rate < 0:
            raise ValueError(f"`peak_learning_rate` must be >= 0; received {peak_learning_rate!r}")
        if not isinstance(total_steps, int) or total_steps <= 0:
            raise ValueError(f"`total_steps` must be a positive int; received total_steps={total_steps!r}")
        if not isinstance(warmup_steps, int) or not 0 <= warmup_steps <= total_steps:
            raise ValueError(
                f"`warmup_steps` must be an int in [0, total_steps={total_steps}]; "
                f"received warmup_steps={warmup_steps!r}")
        if end_learning_rate < 0:
            raise ValueError(f"`end_learning_rate` must be >= 0; received {end_learning_rate!r}")
        if end_fraction is not None:
            if not 0.0 <= end_fraction <= 1.0:
                raise ValueError(f"`end_fraction` must be in [0, 1]; received end_fraction={end_fraction!r}")
            if end_learning_rate:
                raise ValueError("Give `end_learning_rate` or `end_fraction`, not both; received "
                                 f"end_learning_rate={end_learning_rate!r}, end_fraction={end_fraction!r}")
            end_learning_rate = float(peak_learning_rate) * float(end_fraction)
        self.peak_learning_rate = float(peak_learning_rate)
        self.total_steps = total_steps
        self.warmup_steps = warmup_steps
        self.end_learning_rate = float(end_learning_rate)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        peak, end = self.peak_learning_rate, self.end_learning_rate
        warmup = float(self.warmup_steps)
        warm = peak * step / max(warmup, 1.0)
        decay_steps = float(max(self.total_steps - self.warmup_steps, 1))
        progress = ops.clip((step - warmup) / decay_steps, 0.0, 1.0)
        cosine = end + (peak - end) * 0.5 * (1.0 + ops.cos(math.pi * progress))
        return ops.where(step < warmup, warm, cosine)

    def get_config(self):
        return {
            "peak_learning_rate": self.peak_learning_rate,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "end_learning_rate": self.end_learning_rate,
        }


def scaled_learning_rate(base_learning_rate, batch_size, scaling="linear"):
    """The peak learning rate for a batch size, SimCLR's convention.

    "linear": base * batch_size / 256 (e.g. SimCLR LARS base 0.3).
    "sqrt":   base * sqrt(batch_size) (no /256; e.g. SimCLR base 0.075).

    Returns a Python float.
    """
    if scaling not in SCALINGS:
        raise ValueError(f"`scaling` must be one of {list(SCALINGS)}; received scaling={scaling!r}")
    if not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"`batch_size` must be a positive int; received batch_size={batch_size!r}")
    if base_learning_rate < 0:
        raise ValueError(f"`base_learning_rate` must be >= 0; received {base_learning_rate!r}")
    if scaling == "linear":
        return base_learning_rate * batch_size / 256.0
    return base_learning_rate * math.sqrt(batch_size)
