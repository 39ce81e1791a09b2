"""Starts `export.serve` as a real process on 127.0.0.1 for tests; stops it afterwards."""

import contextlib
import os
import socket
import subprocess
import sys
import time

from helpers.cli import CHILD_PYTHONPATH

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_server(model_dir, log_path, *flags):
    """Yields (process, grpc port, rest port) once the REST status answers."""
    import urllib.request

    grpc_port, rest_port = free_port(), free_port()
    with open(log_path, "w+") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "export.serve",
                f"--model_dir={model_dir}",
                f"--port={grpc_port}",
                f"--rest_port={rest_port}",
                *flags,
            ],
            cwd=ROOT,
            env=dict(os.environ, PYTHONPATH=CHILD_PYTHONPATH, TF_CPP_MIN_LOG_LEVEL="3"),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            for _ in range(600):
                try:
                    urllib.request.urlopen(
                        f"http://127.0.0.1:{rest_port}/v1/models/{os.path.basename(model_dir)}", timeout=5
                    )
                    break
                except OSError:
                    if process.poll() is not None:
                        log.seek(0)
                        raise RuntimeError("server died: " + log.read()[-3000:]) from None
                    time.sleep(0.1)
            yield process, grpc_port, rest_port
        finally:
            process.terminate()
            process.wait(timeout=30)
