"""Helpers for tests that need TensorFlow in a fresh process.

Logical CPU devices and TF_CONFIG must be set before TensorFlow initialises, so
distribution tests run their body as a script in a child process and read back
a JSON result (or .npz arrays) from a file.
"""
import json
import os
import subprocess
import sys
import textwrap

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Prepended to every child script: 2 logical CPU devices, quiet logs.
LOGICAL_DEVICES_PRELUDE = """
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
import tensorflow as tf
_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_cpu, [tf.config.LogicalDeviceConfiguration()] * {devices})
"""


def run_python(script, *, devices=2, timeout=600, env=None, tmp_path=None):
    """Runs `script` in a child Python with `devices` logical CPU devices.

    The script may write its result as JSON to the path in the RESULT_PATH
    environment variable; that result is returned (None if it wrote nothing).
    Raises AssertionError with the child's output when it exits non-zero.
    """
    import tempfile

    workdir = tmp_path or tempfile.mkdtemp(prefix="sslzoo_child_")
    result_path = os.path.join(str(workdir), "result.json")
    code = LOGICAL_DEVICES_PRELUDE.format(devices=devices) + textwrap.dedent(script)
    child_env = dict(os.environ, RESULT_PATH=result_path)
    child_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=child_env
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"child process failed ({proc.returncode})\n--- stdout\n{proc.stdout[-4000:]}"
            f"\n--- stderr\n{proc.stderr[-8000:]}"
        )
    if os.path.exists(result_path):
        with open(result_path) as f:
            return json.load(f)
    return None


def write_result(obj):
    """Child side: writes `obj` as JSON to RESULT_PATH."""
    with open(os.environ["RESULT_PATH"], "w") as f:
        json.dump(obj, f)
