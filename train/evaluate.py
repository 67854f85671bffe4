"""sslzoo-eval: evaluate a pre-trained encoder with the standard protocols.

    sslzoo-eval --model=runs/simclr_digits                     # linear + kNN on digits
    sslzoo-eval --model=runs/simclr_digits/model.keras --protocols=linear,knn,finetune,semi
    sslzoo-eval --model=encoder.keras --dataset=cifar10 --data_dir=~/tensorflow_datasets

--model is a model dir (holding model.keras), a `.keras` file of an objective
(its `.encoder` is evaluated) or of a plain encoder. Protocols:
  linear    frozen features, softmax classifier (top-1, top-5)
  knn       cosine kNN, k=20, T=0.07 weighted vote
  finetune  encoder + classifier trained end to end on all labels
  semi      fine-tuning on class-balanced 1% and 10% of the labels
Prints one JSON object and writes it to --output when given.
"""
import json

from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "Model dir, objective .keras file or encoder .keras file.", required=True)
flags.DEFINE_string("dataset", "digits", "digits or a tensorflow-datasets image dataset name.")
flags.DEFINE_string("data_dir", None, "tensorflow-datasets data_dir.")
flags.DEFINE_integer("max_examples", None, "Use at most this many examples per split.")
flags.DEFINE_list("protocols", ["linear", "knn"], "Any of linear, knn, finetune, semi.")
flags.DEFINE_integer("finetune_epochs", 10, "Epochs of end-to-end fine-tuning.")
flags.DEFINE_float("finetune_learning_rate", 1e-3, "Fine-tuning learning rate (Adam).")
flags.DEFINE_list("label_fractions", ["0.01", "0.1"], "Label fractions for the semi protocol.")
flags.DEFINE_string("output", None, "Write the results JSON here.")

PROTOCOLS = ("linear", "knn", "finetune", "semi")


def evaluate(encoder, train, test, protocols):
    """Runs `protocols` on (images, labels) splits; returns {"<protocol>_top1": ...}."""
    from sslzoo import evaluation

    unknown = sorted(set(protocols) - set(PROTOCOLS))
    if unknown:
        raise ValueError(f"--protocols: unknown {unknown}; choose from {', '.join(PROTOCOLS)}")
    results = {}
    if "linear" in protocols or "knn" in protocols:
        train_features = evaluation.extract_features(encoder, train[0])
        test_features = evaluation.extract_features(encoder, test[0])
        if "linear" in protocols:
            linear = evaluation.linear_probe(None, train_features, train[1], test_features, test[1])
            results.update({f"linear_probe_{k}": v for k, v in linear.items()})
        if "knn" in protocols:
            results.update({f"knn_{k}": v for k, v in
                            evaluation.knn(None, train_features, train[1], test_features, test[1]).items()})
    fine_tune_args = dict(epochs=FLAGS.finetune_epochs, learning_rate=FLAGS.finetune_learning_rate)
    if "finetune" in protocols:
        tuned = evaluation.fine_tune(encoder, *train, *test, **fine_tune_args)
        results.update({f"finetune_{k}": v for k, v in tuned.items()})
    if "semi" in protocols:
        for fraction in map(float, FLAGS.label_fractions):
            tuned = evaluation.fine_tune(encoder, *train, *test, label_fraction=fraction, **fine_tune_args)
            results[f"semi_{fraction:g}_top1"] = tuned["top1"]
    return results


def main(argv):
    del argv
    from sslzoo.saving import load_trained_encoder
    from sslzoo.train.image_task import load_split

    preset_like = {"dataset": FLAGS.dataset}
    train = load_split(preset_like, "train", FLAGS.data_dir, FLAGS.max_examples)
    test = load_split(preset_like, "test", FLAGS.data_dir, FLAGS.max_examples)
    results = evaluate(load_trained_encoder(FLAGS.model), train, test, FLAGS.protocols)
    text = json.dumps(results, indent=2)
    print(text)
    if FLAGS.output:
        with open(FLAGS.output, "w") as f:
            f.write(text)


def run():
    """Console-script entry point (`sslzoo-eval`)."""
    from sslzoo.train import cli

    cli.run_program(main, __name__, "sslzoo-eval")


if __name__ == "__main__":
    run()
