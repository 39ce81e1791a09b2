r"""Requests/second and latency of the perturbation endpoint over loopback (REST and gRPC, `sample`).

  python bench/serving.py --checkpoint=runs/quickstart --requests=200

Exports the generator (or, without --checkpoint, a paper-architecture
generator for --image_size with random weights: the same cost), starts
`export.serve` on 127.0.0.1 as a real process, and sends a bounded number of
sequential requests for N=1 and N=16 perturbations. Last line: JSON.
"""

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from absl import app, flags

from nag_tf.flags_util import parse_flags_or_exit, run_or_exit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_CHECKPOINT = flags.DEFINE_string("checkpoint", None, "Training log directory; default: an untrained generator.")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", 224, "Generator size without --checkpoint.")
_VARIANT = flags.DEFINE_string("generator", "light", "Generator variant without --checkpoint.")
_REQUESTS = flags.DEFINE_integer("requests", 100, "Requests per (protocol, N).")


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _measure(call, count):
    call()  # warm-up
    latencies = []
    start = time.perf_counter()
    for _ in range(count):
        begin = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - begin)
    total = time.perf_counter() - start
    latencies.sort()
    return {
        "rps": round(count / total, 2),
        "p50_ms": round(1000 * statistics.median(latencies), 1),
        "p99_ms": round(1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 1),
    }


def _main(argv):
    del argv
    import numpy as np

    from export import saved_model_lib
    from export.client import GrpcClient, RestClient
    from nag_tf import sources
    from nag_tf.generator import build_generator

    if _CHECKPOINT.value:
        source = sources.load_source(_CHECKPOINT.value)
        generator, xi, target = source.generator, source.xi, source.target_name
    else:
        generator, xi, target = build_generator(_IMAGE_SIZE.value, 10, 10.0, _VARIANT.value, seed=0), 10.0, "untrained"
    base = os.path.join(tempfile.mkdtemp(prefix="nag_serving_bench_"), "nag")
    saved_model_lib.export_saved_model(generator, base, xi, target)
    grpc_port, rest_port = _free_port(), _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "export.serve",
            f"--model_dir={base}",
            f"--port={grpc_port}",
            f"--rest_port={rest_port}",
        ],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        rest = RestClient(f"http://127.0.0.1:{rest_port}", "nag")
        for _ in range(600):
            try:
                rest.status()
                break
            except OSError:
                time.sleep(0.1)
        grpc_client = GrpcClient(f"127.0.0.1:{grpc_port}", "nag")
        results = {}
        for n in (1, 16):
            seeds = list(range(n))
            results[f"rest_n{n}"] = _measure(lambda seeds=seeds: rest.sample(seeds), _REQUESTS.value)
            results[f"grpc_n{n}"] = _measure(
                lambda seeds=seeds: grpc_client.predict("sample", {"seed": np.array(seeds, np.int64)}), _REQUESTS.value
            )
        size = int(generator.output_shape[1])
        print(f"endpoint `sample`, generator {size} px, {_REQUESTS.value} sequential requests each, loopback")
        for key, value in results.items():
            print(
                f"{key:10s} {value['rps']:8.2f} req/s   p50 {value['p50_ms']:8.1f} ms   p99 {value['p99_ms']:8.1f} ms"
            )
        print(json.dumps({"image_size": size, "requests": _REQUESTS.value, **results}))
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    app.run(lambda argv: run_or_exit(_main, argv), flags_parser=parse_flags_or_exit)
