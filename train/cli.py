"""What every sslzoo program shares: `--help` lists its own flags, bad flags fail in one line.

    def run():
        cli.run_program(main, __name__, "sslzoo-train")

- absl's `--help` lists the flags of the main module only; a console script's main
  module is the installed wrapper, so the program's flags are registered as its
  key flags here.
- A flag value absl rejects, or one the program rejects with `FlagValueError`
  (an unknown preset, objective, dataset or strategy), is reported in one line
  naming the flag and the valid choices, with exit status 2 and no traceback.
"""
import os
import sys

from absl import app, flags

FLAGS = flags.FLAGS
USAGE_ERROR_STATUS = 2


class FlagValueError(ValueError):
    """A flag's value is not one of its valid choices (or, with `reason`, not usable for that reason)."""

    def __init__(self, flag, value, choices=(), reason=None):
        if reason is not None:
            super().__init__(f"--{flag}={value!r}: {reason}")
        else:
            shown = ", ".join(str(c) for c in choices)
            super().__init__(f"--{flag}={value!r} is not valid; choose from: {shown}")


def check_choice(flag, value, choices):
    """Raises FlagValueError unless `value` is one of `choices`."""
    if value not in choices:
        raise FlagValueError(flag, value, choices)


def _fail(program, message):
    print(f"{program}: error: {message}", file=sys.stderr)
    sys.exit(USAGE_ERROR_STATUS)


def run_program(main, module_name, program):
    """`app.run(main)` with `module_name`'s flags in --help and one-line flag errors."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter
    for flag in FLAGS.get_flags_for_module(module_name):
        FLAGS.register_key_flag_for_module(sys.argv[0], flag)

    def parse(argv):
        try:
            return FLAGS(argv)
        except flags.Error as error:
            _fail(program, error)

    def checked_main(argv):
        try:
            return main(argv)
        except FlagValueError as error:
            _fail(program, error)

    app.run(checked_main, flags_parser=parse)
