"""SGD with L2 weight decay added to the gradient, as PyTorch's `torch.optim.SGD`.

Keras' `SGD(weight_decay=wd)` decays decoupled from the gradient (`w -= lr * wd * w`
after the step). The PyTorch recipes this zoo follows (MoCo v2's main_moco.py,
SimSiam, DINO's ResNet command, solo-learn's "sgd") add `wd * w` to the gradient,
so with momentum m the decay also builds up in the velocity:

    d = g + wd * w
    v = m * v - lr * d           (Keras' form of torch's buf = m * buf + d; w -= lr * buf)
    w = w + v                    (nesterov: w = w + m * v - lr * d)

Every variable is decayed (torch.optim.SGD over `model.parameters()`).
"""
import keras
from keras import ops


@keras.saving.register_keras_serializable(package="sslzoo")
class SGDL2(keras.optimizers.SGD):
    """`keras.optimizers.SGD` whose `weight_decay` is an L2 term of the gradient.

    Args:
      learning_rate: float, `LearningRateSchedule` or callable.
      momentum: momentum m in [0, 1].
      nesterov: Nesterov momentum.
      weight_decay: coefficient wd of the L2 term `wd * w` added to the gradient (>= 0).
      **kwargs: base `keras.optimizers.Optimizer` arguments (name, clipnorm, ...).
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=0.0, name="sgd_l2",
                 **kwargs):
        super().__init__(learning_rate=learning_rate, momentum=momentum, nesterov=nesterov, weight_decay=None,
                         name=name, **kwargs)
        if weight_decay is None or weight_decay < 0:
            raise ValueError(f"`weight_decay` must be >= 0; received weight_decay={weight_decay!r}")
        self.l2_weight_decay = float(weight_decay)

    def update_step(self, gradient, variable, learning_rate):
        gradient = ops.cast(gradient, variable.dtype)
        if self.l2_weight_decay:
            gradient = gradient + ops.cast(self.l2_weight_decay, variable.dtype) * variable
        super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        config = super().get_config()
        config["weight_decay"] = self.l2_weight_decay
        return config
