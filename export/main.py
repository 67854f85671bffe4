"""`sslzoo-export`: exports a trained model as SavedModel, TF Hub module and/or TFLite.

    sslzoo-export --model=runs/simclr/model.keras --output=exports/simclr --format=all

`--model` is a `.keras` file or a model folder holding `model.keras` (a report.json
beside it feeds the model card). `--format=all` writes `<output>/saved_model`,
`<output>/hub` and `<output>/tflite`; a single format writes into `<output>`. An
objective with several encoders (CLIP, MMV) is written as one SavedModel with one
signature per modality (`sslzoo.export.multimodal`); `--format=all` then writes
`saved_model` and `hub` (TFLite converts one encoder at a time).
"""
import os

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "A .keras file or a model folder containing model.keras.")
flags.DEFINE_string("output", None, "Output folder.")
flags.DEFINE_enum("format", "saved_model", ["saved_model", "hub", "tflite", "all"], "Export format.")
flags.DEFINE_bool("overwrite", False, "Replace existing output folders.")
flags.DEFINE_string("report", None, "report.json for the model card (default: beside --model).")
flags.DEFINE_list("tflite_variants", ["float32", "float16", "int8"], "TFLite variants.")

REPORT_FILE = "report.json"


def default_report(model_file):
    """report.json beside the model file, if there is one."""
    candidate = os.path.join(os.path.dirname(model_file), REPORT_FILE)
    return candidate if os.path.isfile(candidate) else None


def export_targets(output, export_format, multimodal=False):
    """[(format, folder)]: one folder per format for "all" (no TFLite when `multimodal`), else `output` itself."""
    if export_format == "all":
        from sslzoo.export.save import FORMATS

        return [(name, os.path.join(output, name)) for name in FORMATS if not (multimodal and name == "tflite")]
    return [(export_format, output)]


def export_model(model_path, output, export_format, overwrite=False, report=None,
                 tflite_variants=("float32", "float16", "int8")):
    """Loads the model and exports it; returns the written folders."""
    from sslzoo.export.multimodal import is_multimodal
    from sslzoo.export.save import save
    from sslzoo.saving import load_model, resolve_model_file

    model_file = resolve_model_file(model_path)
    model = load_model(model_file)
    report = report or default_report(model_file)
    return [
        save(model, folder, format=name, overwrite=overwrite, report=report,
             tflite_variants=tflite_variants)
        for name, folder in export_targets(output, export_format, multimodal=is_multimodal(model))
    ]


def main(argv):
    del argv
    if not FLAGS.model or not FLAGS.output:
        raise app.UsageError("--model and --output are required")
    try:
        folders = export_model(FLAGS.model, FLAGS.output, FLAGS.format, FLAGS.overwrite,
                               FLAGS.report, tuple(FLAGS.tflite_variants))
    except ValueError as error:  # bad flags or model: a usage message, not a traceback
        raise app.UsageError(str(error)) from error
    for folder in folders:
        print(f"exported {folder}")


def run():
    """Console-script entry point (`sslzoo-export`)."""
    from sslzoo.train import cli

    cli.run_program(main, __name__, "sslzoo-export")


if __name__ == "__main__":
    run()
