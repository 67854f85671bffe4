"""Untrusted files: models load with Keras safe mode, nothing is unpickled, exports and search
indexes carry no Python.

- A source audit (no TensorFlow): every `load_model` call in the library and the programs keeps
  `safe_mode` True, nothing turns unsafe deserialisation on, nothing imports pickle (or its
  relatives) and no `np.load` allows pickles.
- The programs refuse a `.keras` file holding a Lambda layer (Python bytecode) and never run it.
- MMV exports (SavedModel and TF Hub) and a saved search index hold no pickle
  (`export_helpers.pickled_files`), and `Index.load` refuses an index whose arrays were
  swapped for pickled objects.
"""
import ast
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from export_helpers import pickled_files

REPO = pathlib.Path(__file__).resolve().parents[1]
CODE_FOLDERS = ("sslzoo", "export", "train", "models")
UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "cloudpickle", "dill", "joblib", "shelve", "marshal"}


def _sources():
    for folder in CODE_FOLDERS:
        for path in sorted((REPO / folder).rglob("*.py")):
            yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _keyword(call, name):
    return next((k.value for k in call.keywords if k.arg == name), None)


def _callee(call):
    function = call.func
    return function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", None)


def test_every_model_load_keeps_safe_mode_and_nothing_unpickles():
    problems, loads = [], 0
    for path, tree in _sources():
        where = path.relative_to(REPO)
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                unsafe = [n for n in names if n.split(".")[0] in UNSAFE_MODULES]
                if unsafe:
                    problems.append(f"{where}:{node.lineno} imports {unsafe}")
            if isinstance(node, ast.Attribute) and node.attr == "enable_unsafe_deserialization":
                problems.append(f"{where}:{node.lineno} enables unsafe deserialization")
            if not isinstance(node, ast.Call):
                continue
            name = _callee(node)
            if name == "load_model" and isinstance(node.func, ast.Attribute):  # keras.saving / keras.models
                loads += 1
                safe = _keyword(node, "safe_mode")
                if safe is not None and not (isinstance(safe, ast.Constant) and safe.value is True):
                    problems.append(f"{where}:{node.lineno} load_model(safe_mode={ast.unparse(safe)})")
            if name == "load" and ast.unparse(node.func) in ("np.load", "numpy.load"):
                allow = _keyword(node, "allow_pickle")
                if allow is not None and not (isinstance(allow, ast.Constant) and allow.value is False):
                    problems.append(f"{where}:{node.lineno} np.load(allow_pickle={ast.unparse(allow)})")
            if name in ("eval", "exec") and isinstance(node.func, ast.Name):
                problems.append(f"{where}:{node.lineno} calls {name}()")
    assert not problems, problems
    assert loads >= 1  # the audit sees the programs' model loading


def test_the_audit_would_see_an_unsafe_load(tmp_path):
    bad = "import keras\nkeras.saving.load_model('m.keras', safe_mode=False)\nimport numpy as np\n" \
          "np.load('a.npy', allow_pickle=True)\nimport pickle\n"
    tree = ast.parse(bad)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    assert ast.unparse(_keyword(calls[0], "safe_mode")) == "False"
    assert ast.unparse(_keyword(calls[1], "allow_pickle")) == "True"


@pytest.fixture(scope="module")
def lambda_model(tmp_path_factory):
    """A .keras file whose Lambda layer holds Python bytecode (marshalled into its config)."""
    import keras

    inputs = keras.Input((16, 16, 3))
    outputs = keras.layers.GlobalAveragePooling2D()(keras.layers.Lambda(lambda x: x * 2.0)(inputs))
    path = tmp_path_factory.mktemp("lambda") / "model.keras"
    keras.Model(inputs, outputs).save(path)
    return path


PROGRAMS = {
    "sslzoo-eval": lambda path, out: ["sslzoo.train.evaluate", f"--model={path}", "--max_examples=64",
                                      "--protocols=knn"],
    "sslzoo-export": lambda path, out: ["sslzoo.export.main", f"--model={path}", f"--output={out}",
                                        "--format=saved_model"],
}


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_programs_refuse_a_keras_file_with_a_lambda_layer(lambda_model, tmp_path, program):
    path = lambda_model
    result = subprocess.run([sys.executable, "-m", *PROGRAMS[program](path, tmp_path / "out")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode != 0, result.stdout[-2000:]
    assert "`Lambda` layer" in result.stderr and "disallowed by default" in result.stderr, result.stderr[-3000:]
    assert not (tmp_path / "out").exists()


def _mmv():
    from sslzoo import backbones, text
    from sslzoo.models import MMV

    narrations = ["the seven moves left", "a two moves up", "nine goes down", "someone says one"]
    encoders = {
        "video": backbones.small_video_cnn(input_shape=(2, 16, 16, 3), widths=(4, 8)),
        "audio": backbones.small_audio_cnn(input_shape=(2000,), sample_rate=16000, widths=(4, 8)),
        "text": text.MMVTextEncoder(text.learn_word_vocabulary(narrations, size=20), sequence_length=4,
                                    embedding_dim=6, width=8),
    }
    return MMV(encoders, heads="fac", va_dim=4, vat_dim=4, hidden_dim=4)


def test_mmv_exports_hold_no_pickle(tmp_path):
    from sslzoo import export

    model = _mmv()
    for fmt in ("saved_model", "hub"):
        folder = export.save(model, tmp_path / fmt, format=fmt)
        assert sorted(export.load_multimodal(folder).modalities) == ["audio", "text", "video"]
        assert pickled_files(folder) == [], fmt
    (tmp_path / "hub" / "variables" / "planted.pkl").write_bytes(b"\x80\x04N.")
    assert len(pickled_files(tmp_path / "hub")) == 1  # the scan does find one


def test_a_search_index_holds_no_pickle_and_refuses_pickled_arrays(tmp_path):
    from search_helpers import export_text_image_encoder, train_linear_digits, write_digit_folder
    from sslzoo.search import Index

    encoder = export_text_image_encoder(tmp_path / "encoder", *train_linear_digits())
    write_digit_folder(str(tmp_path / "media"), per_class=2)
    index = Index(encoder, backend="numpy")
    index.add(str(tmp_path / "media"))
    folder = pathlib.Path(index.save(tmp_path / "index"))
    assert pickled_files(folder) == [] and pickled_files(encoder) == []
    json.loads((folder / "index.json").read_text())  # the manifest and metadata are JSON
    for line in (folder / "metadata.jsonl").read_text().splitlines():
        json.loads(line)
    for array in folder.glob("*.npy"):
        np.load(array, allow_pickle=False)
    # A planted object array (a pickle inside .npy) is refused, not unpickled.
    ids = next(folder.glob("*.ids.npy"))
    np.save(ids, np.array([object()] * len(index), dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="allow_pickle"):
        Index.load(folder, backend="numpy")
