"""Runs pytest on the files given as arguments: how Bazel's py_test targets run the suite."""

import os
import sys

import pytest

if __name__ == "__main__":
    # Bazel runs tests from the runfiles tree; the workspace root holds conftest.py and pyproject.toml.
    # In this process (-n 0): Bazel runs its test targets in parallel itself.
    os.chdir(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", "-n", "0", *sys.argv[1:]]))
