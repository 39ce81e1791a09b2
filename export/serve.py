r"""Serve an export directory over TF Serving's gRPC and REST APIs (loopback by default).

  python -m export.serve --model_dir=exports/nag --port=8500 --rest_port=8501

Model name: --model_name, default the base directory's name (`nag`). New
version folders are picked up every --poll_seconds without a restart; a
damaged one is refused (the reason is logged) and the last good one keeps
serving. SIGTERM or SIGINT: stop accepting, finish the requests in flight
(up to --grace_seconds), exit 0. For production, TF Serving itself serves the
same directory (docs/serving.md).
"""

from absl import app, flags

from nag_tf.flags_util import parse_flags_or_exit, run_or_exit

_MODEL_DIR = flags.DEFINE_string("model_dir", "exports/nag", "Base directory with numbered SavedModel versions.")
_MODEL_NAME = flags.DEFINE_string("model_name", None, "Model name in requests (default: the base directory's name).")
_HOST = flags.DEFINE_string("host", "127.0.0.1", "Address to bind (loopback by default).")
# Bounds are absl's: a bad value is one `error:` line at parse time (nag_tf.flags_util).
_PORT = flags.DEFINE_integer("port", 8500, "gRPC port (0: none).", lower_bound=0, upper_bound=65535)
_REST_PORT = flags.DEFINE_integer("rest_port", 8501, "REST port (0: none).", lower_bound=0, upper_bound=65535)
_MAX_BATCH = flags.DEFINE_integer("max_batch", 64, "Largest N accepted in one request.", lower_bound=1)
_MAX_REQUEST_MB = flags.DEFINE_float("max_request_mb", 32.0, "Largest request body accepted.")
_POLL = flags.DEFINE_float("poll_seconds", 2.0, "How often to look for new versions.")
_GRACE = flags.DEFINE_float(
    "grace_seconds", 30.0, "On SIGTERM/SIGINT: how long requests in flight may take.", lower_bound=0.0
)
flags.register_validator("max_request_mb", lambda value: value > 0, "--max_request_mb must be positive")
flags.register_validator("poll_seconds", lambda value: value > 0, "--poll_seconds must be positive")


def _main(argv):
    del argv
    import asyncio
    import os

    from export import serving_lib
    from nag_tf.errors import NAGError

    if not os.path.isdir(_MODEL_DIR.value):
        raise NAGError(
            f"--model_dir={_MODEL_DIR.value!r} does not exist; export a model first (python -m export.saved_model)"
        )
    config = serving_lib.ServerConfig(
        model_dir=_MODEL_DIR.value,
        model_name=_MODEL_NAME.value or os.path.basename(os.path.normpath(_MODEL_DIR.value)),
        host=_HOST.value,
        port=_PORT.value,
        rest_port=_REST_PORT.value,
        max_batch=_MAX_BATCH.value,
        max_request_bytes=int(_MAX_REQUEST_MB.value * 1024 * 1024),
        poll_seconds=_POLL.value,
        grace_seconds=_GRACE.value,
    )
    asyncio.run(serving_lib.serve(config, log=lambda message: print(message, flush=True)))


if __name__ == "__main__":
    app.run(lambda argv: run_or_exit(_main, argv), flags_parser=parse_flags_or_exit)
