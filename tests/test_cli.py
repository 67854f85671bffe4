"""The programs as a new user meets them: --help, bad flag values, --show, reloading saved objectives."""
import json
import os
import subprocess
import sys

import pytest

from testing_utils import REPO


def program(name, *args, timeout=300):
    """Runs console script `name` (as installed) with `args`; returns the CompletedProcess."""
    script = os.path.join(os.path.dirname(sys.executable), name)
    return subprocess.run([script, *args], capture_output=True, text=True, timeout=timeout, cwd=REPO)


@pytest.mark.parametrize("name, flag", [("sslzoo-train", "--preset"), ("sslzoo-eval", "--protocols"),
                                        ("sslzoo-export", "--format")])
def test_help_lists_the_programs_own_flags(name, flag):
    result = program(name, "--help")
    assert result.returncode in (0, 1), result.stderr  # absl's --help exits 1
    assert flag in result.stdout, result.stdout[:2000]


@pytest.mark.parametrize("args, flag, choice", [
    (["--preset=simclr_mnist"], "--preset='simclr_mnist'", "simclr_digits"),
    (["--objective=simsiamese"], "--objective='simsiamese'", "moco_v3"),
    (["--strategy=gpus"], "--strategy='gpus'", "mirrored"),
    (["--precision=fp8"], "--precision=fp8", "mixed_bfloat16"),
])
def test_a_bad_flag_value_is_one_line_naming_flag_and_choices(args, flag, choice):
    result = program("sslzoo-train", *args, "--show")
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("sslzoo-train: error:")]
    assert len(errors) == 1 and flag in errors[0] and choice in errors[0], result.stderr[-2000:]
    assert "Traceback" not in result.stderr


def test_show_prints_the_resolved_recipe_and_trains_nothing(tmp_path):
    result = program("sslzoo-train", "--preset=simclr_imagenet", "--show", f"--model_dir={tmp_path}/run")
    assert result.returncode == 0, result.stderr[-2000:]
    recipe = json.loads(result.stdout)
    # SimCLR's LARS rate: 0.3 x 4096 / 256 = 4.8 (Chen et al. 2020, appendix B.1).
    assert recipe["optimizer"]["peak_learning_rate"] == pytest.approx(4.8)
    assert recipe["optimizer"]["momentum"] == 0.9  # the optimizer's default, spelled out
    assert recipe["augment"]["kind"] == "simclr" and recipe["schedule"]["warmup_epochs"] == 10
    assert not os.path.exists(tmp_path / "run")


def test_show_with_objective_swaps_in_the_registered_objective():
    result = program("sslzoo-train", "--preset=simclr_digits", "--objective=swav", "--show")
    assert result.returncode == 0, result.stderr[-2000:]
    recipe = json.loads(result.stdout)
    assert recipe["objective"] == "swav" and recipe["objective_args"] == {}
    assert recipe["augment"]["kind"] == "multicrop"  # SwAV's declared default augmentation


def test_a_saved_clip_reloads_in_a_fresh_process_that_imports_only_sslzoo_models(tmp_path):
    import objective_harness as harness

    path = str(tmp_path / "clip.keras")
    harness.make_objective("clip").save(path)
    code = ("import keras, sslzoo.models\n"
            f"model = keras.saving.load_model({path!r})\n"
            "print(type(model).__name__, type(model.encoders['text']).__name__)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[-2:] == ["CLIP", "BagOfWordsTextEncoder"]


USER_OBJECTIVE = '''
import keras
import tensorflow as tf

from sslzoo import models
from sslzoo.models.moco_v2 import TWO_VIEWS


@models.register("user_cosine_views")
@keras.saving.register_keras_serializable(package="user")
class UserCosineViews(models.SSLModel):
    """1 - mean cosine of the two views' features."""

    batch_spec = TWO_VIEWS

    def compute_objective(self, batch, training):
        h_1, h_2 = (tf.math.l2_normalize(self.encoder(v, training=training), -1) for v in batch)
        return 1.0 - tf.reduce_mean(tf.reduce_sum(h_1 * h_2, -1)), {}
'''


def test_sslzoo_train_trains_an_objective_written_outside_sslzoo(tmp_path):
    """A user's module, named by --import_modules, registers an objective; --objective trains it on
    a preset's data with no edit to sslzoo."""
    (tmp_path / "user_objectives.py").write_text(USER_OBJECTIVE)
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    script = os.path.join(os.path.dirname(sys.executable), "sslzoo-train")
    common = [script, "--preset=simclr_digits", "--objective=user_cosine_views", "--epochs=1",
              "--max_examples=256", "--batch_size=128", "--noevaluate", "--probe_every=0", "--verbose=0",
              f"--model_dir={tmp_path / 'run'}"]
    trained = subprocess.run([*common, "--import_modules=user_objectives"], capture_output=True, text=True,
                             timeout=600, cwd=REPO, env=env)
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert (tmp_path / "run" / "model.keras").stat().st_size > 1000
    missing = subprocess.run([*common, "--import_modules=no_such_module"], capture_output=True, text=True,
                             timeout=300, cwd=REPO, env=env)
    errors = [line for line in missing.stderr.splitlines() if line.startswith("sslzoo-train: error:")]
    assert missing.returncode == 2 and len(errors) == 1 and "--import_modules='no_such_module'" in errors[0]
    assert "Traceback" not in missing.stderr
