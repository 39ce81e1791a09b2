r"""Requests/second and latency of the perturbation endpoint over loopback (REST and gRPC).

  python bench/serving.py --checkpoint=runs/quickstart --requests=100
  python bench/serving.py --concurrency=16 --duration_s=60

Exports the generator (or, without --checkpoint, a --generator variant for
--image_size with random weights: the same cost), starts `export.serve` on
127.0.0.1 as a real process, then:

- sequential (default): --requests requests one after another for N = 1 and 16
  perturbations, in both encodings: `sample` (float32 perturbations, REST as
  JSON numbers) and `sample_png` (PNG bytes, REST as {"b64": ...}), over REST
  and gRPC; `png_over_float_rest_n1` is the speed-up of PNG over float JSON
  on REST at N = 1, and `png_round_trip_exact` checks that `perturb_png`
  decodes (export.client) to exactly the uint8 images `perturb` returns.
- --concurrency=C: the serving soak (export/load_test.py, as in
  tests/faults/test_serving_soak.py): C client threads for --duration_s
  seconds, valid requests on every signature and malformed ones, over REST
  and gRPC, while a second version is exported half-way; per protocol:
  requests, errors on valid requests, 5xx, dropped connections, p50/p99.

Last line: JSON, with the machine's name.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import _common
from absl import app, flags

from nag_tf.flags_util import parse_flags_or_exit, run_or_exit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_CHECKPOINT = flags.DEFINE_string("checkpoint", None, "Training log directory; default: an untrained generator.")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", 224, "Generator size without --checkpoint.")
_VARIANT = flags.DEFINE_string("generator", "light", "Generator variant without --checkpoint.")
_REQUESTS = flags.DEFINE_integer("requests", 100, "Sequential requests per (protocol, encoding, N).")
_CONCURRENCY = flags.DEFINE_integer("concurrency", 0, "Client threads for the soak (0: sequential requests).")
_DURATION = flags.DEFINE_float("duration_s", 60.0, "With --concurrency: seconds of load.")


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


def _sequential(rest, grpc_client, size):
    import numpy as np

    results = {}
    for n in (1, 16):
        seeds = list(range(n))
        array = np.array(seeds, np.int64)
        for encoding, signature in (("float", "sample"), ("png", "sample_png")):
            results[f"rest_{encoding}_n{n}"] = _measure(
                lambda s=signature, seeds=seeds: rest.predict(s, {"seed": seeds}), _REQUESTS.value
            )
            results[f"grpc_{encoding}_n{n}"] = _measure(
                lambda s=signature, a=array: grpc_client.predict(s, {"seed": a}), _REQUESTS.value
            )
    images = np.random.default_rng(0).integers(0, 256, [4, size + 30, size + 10, 3]).astype(np.uint8)
    seeds = np.arange(4, dtype=np.int64)
    exact = bool(
        np.array_equal(
            rest.perturb_png(images, seeds),
            grpc_client.predict("perturb", {"images": images, "seed": seeds})["adversarial_images"],
        )
    )
    print(f"endpoint `sample` (float) vs `sample_png`, {size} px, {_REQUESTS.value} sequential requests each")
    for key, value in results.items():
        print(f"{key:16s} {value['rps']:8.2f} req/s   p50 {value['p50_ms']:8.1f} ms   p99 {value['p99_ms']:8.1f} ms")
    ratio = results["rest_png_n1"]["rps"] / results["rest_float_n1"]["rps"]
    print(f"REST, N = 1: PNG bytes {ratio:.1f}x the requests/s of float JSON; perturb_png round trip exact: {exact}")
    return {
        "requests": _REQUESTS.value,
        **results,
        "png_over_float_rest_n1": round(ratio, 1),
        "png_round_trip_exact": exact,
    }


def _soak(rest_url, grpc_address, generator, base, xi, target, size):
    from export import load_test as load_lib
    from export import saved_model_lib
    from nag_tf.core.generator import build_generator

    replacement = build_generator(size, int(generator.input_shape[-1]), xi, _VARIANT.value, seed=1)
    switched = {}

    def export_second_version():
        time.sleep(_DURATION.value / 2)
        switched["path"] = saved_model_lib.export_saved_model(replacement, base, xi, target)

    thread = threading.Thread(target=export_second_version)
    thread.start()
    requests = load_lib.soak_requests(int(generator.input_shape[-1]), size)
    outcomes = load_lib.run_clients(
        rest_url,
        grpc_address,
        "nag",
        requests,
        concurrency=_CONCURRENCY.value,
        duration_s=_DURATION.value,
        timeout=120,
    )
    thread.join()
    summary = load_lib.summarise(outcomes, _DURATION.value)
    by_version = {str(v): sum(o.version == v for o in outcomes if o.valid) for v in (1, 2)}
    print(
        f"soak: {_CONCURRENCY.value} clients for {_DURATION.value:g} s, {size} px, version 2 exported at "
        f"{_DURATION.value / 2:g} s; valid answers by version {by_version}"
    )
    for protocol, row in summary.items():
        print(f"{protocol:5s} {json.dumps(row)}")
    return {
        "concurrency": _CONCURRENCY.value,
        "duration_s": _DURATION.value,
        "requests": len(outcomes),
        "answers_by_version": by_version,
        **{f"{protocol}_{key}": value for protocol, row in summary.items() for key, value in row.items()},
    }


def _main(argv):
    del argv
    from export import saved_model_lib
    from export.client import GrpcClient, RestClient
    from nag_tf.core.generator import build_generator
    from nag_tf.evaluation import sources

    if _CHECKPOINT.value:
        source = sources.load_source(_CHECKPOINT.value)
        generator, xi, target = source.generator, source.xi, source.target_name
    else:
        generator, xi, target = build_generator(_IMAGE_SIZE.value, 10, 10.0, _VARIANT.value, seed=0), 10.0, "untrained"
    size = int(generator.output_shape[1])
    base = os.path.join(tempfile.mkdtemp(prefix="nag_serving_bench_"), "nag")
    saved_model_lib.export_saved_model(generator, base, xi, target)
    grpc_port, rest_port = _common.free_port(), _common.free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "export.serve",
            f"--model_dir={base}",
            f"--port={grpc_port}",
            f"--rest_port={rest_port}",
            "--poll_seconds=0.5",
        ],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=ROOT),
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
        if _CONCURRENCY.value:
            figures = _soak(
                f"http://127.0.0.1:{rest_port}",
                f"127.0.0.1:{grpc_port}",
                generator,
                base,
                xi=xi,
                target=target,
                size=size,
            )
        else:
            figures = _sequential(rest, GrpcClient(f"127.0.0.1:{grpc_port}", "nag"), size)
        print(json.dumps({"image_size": size, **figures, "machine": _common.machine()}))
    finally:
        server.terminate()
        server.wait(timeout=60)


if __name__ == "__main__":
    app.run(lambda argv: run_or_exit(_main, argv), flags_parser=parse_flags_or_exit)
