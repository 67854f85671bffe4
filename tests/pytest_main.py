"""Bazel's entry point for a py_test: runs pytest on the file named in argv, exits with its status."""
import sys

import pytest

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} tests/test_FILE.py")
    sys.exit(pytest.main([sys.argv[1], "-q"]))
