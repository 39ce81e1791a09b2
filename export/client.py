"""Clients of the perturbation endpoint: TF Serving's REST and gRPC APIs (work against TF Serving too).

from export.client import RestClient, GrpcClient, decode_png
RestClient("http://127.0.0.1:8501", "nag").sample([17])      # -> float32 [1, S, S, 3]
RestClient("http://127.0.0.1:8501", "nag").sample_png([17])  # -> uint8 [1, S, S, 3], sent as PNG
GrpcClient("127.0.0.1:8500", "nag").predict("sample", {"seed": np.array([17], np.int64)})

Binary outputs (aliases ending in `_bytes`) arrive over REST as {"b64": ...}
and come back from `predict` as numpy arrays of bytes, as over gRPC.

`RestClient` needs only numpy and Pillow, so a client machine need not install
TensorFlow: `GrpcClient` imports gRPC and TensorFlow's protos when built.
"""

import base64
import io
import json
import urllib.request

import numpy as np
from PIL import Image

__all__ = ["RestClient", "GrpcClient", "decode_png", "rest_output_to_numpy"]


def decode_png(files):
    """PNG files (bytes, as a `_png` signature returns them) -> uint8 [N, H, W, 3]."""
    return np.stack([np.asarray(Image.open(io.BytesIO(bytes(f))).convert("RGB")) for f in files])


def rest_output_to_numpy(value):
    """A REST output back to numpy: TF Serving's {"b64": ...} objects become bytes."""

    def unpack(item):
        if isinstance(item, dict) and set(item) == {"b64"}:
            return base64.b64decode(item["b64"])
        if isinstance(item, list):
            return [unpack(child) for child in item]
        return item

    unpacked = unpack(value)
    flat = unpacked
    while isinstance(flat, list) and flat:
        flat = flat[0]
    if isinstance(flat, bytes):
        array = np.empty(np.shape(np.asarray(unpacked, dtype=object)), dtype=object)
        array[...] = unpacked
        return array
    return np.asarray(unpacked)


class RestClient:
    def __init__(self, base_url, model_name, version=None, timeout=60):
        self.base_url = base_url.rstrip("/")
        self.model_name = model_name
        self.version = version
        self.timeout = timeout

    def _url(self, suffix=""):
        version = f"/versions/{self.version}" if self.version else ""
        return f"{self.base_url}/v1/models/{self.model_name}{version}{suffix}"

    def post(self, body):
        """POSTs a :predict body; returns (HTTP status, decoded JSON)."""
        request = urllib.request.Request(
            self._url(":predict"), data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    def predict(self, signature_name, inputs):
        """Columnar request; returns {output name: numpy array}."""
        status, body = self.post(
            {"signature_name": signature_name, "inputs": {k: np.asarray(v).tolist() for k, v in inputs.items()}}
        )
        if status != 200:
            raise RuntimeError(f"HTTP {status}: {body.get('error')}")
        outputs = body["outputs"]
        return (
            {k: rest_output_to_numpy(v) for k, v in outputs.items()}
            if isinstance(outputs, dict)
            else {"output": rest_output_to_numpy(outputs)}
        )

    def sample(self, seeds):
        return self.predict("sample", {"seed": list(seeds)})["output"].astype(np.float32)

    def sample_png(self, seeds):
        """The perturbations of `seeds` visualised on 0-255 (grey = 0), sent as PNG: uint8 [N, S, S, 3]."""
        return decode_png(self.predict("sample_png", {"seed": list(seeds)})["output"])

    def perturb_png(self, images, seeds=()):
        """Adversarial images, sent as PNG: exactly the uint8 images of the `perturb` signature."""
        inputs = {"images": np.asarray(images, np.uint8), "seed": np.asarray(seeds, np.int64)}
        return decode_png(self.predict("perturb_png", inputs)["output"])

    def status(self):
        with urllib.request.urlopen(self._url(), timeout=self.timeout) as response:
            return json.loads(response.read())


class GrpcClient:
    def __init__(self, address, model_name, version=None, timeout=60):
        import grpc
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        # 16 perturbations at 224 px are ~10 MB: above gRPC's default 4 MB message limit.
        self.channel = grpc.insecure_channel(address, options=[("grpc.max_receive_message_length", 256 * 1024 * 1024)])
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.model_name, self.version, self.timeout = model_name, version, timeout

    def predict(self, signature_name, inputs):
        """inputs: {name: numpy array}; returns {output name: numpy array}."""
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2

        request = predict_pb2.PredictRequest()
        request.model_spec.name = self.model_name
        request.model_spec.signature_name = signature_name
        if self.version:
            request.model_spec.version.value = self.version
        for name, value in inputs.items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
        response = self.stub.Predict(request, timeout=self.timeout)
        return {name: tf.make_ndarray(proto) for name, proto in response.outputs.items()}

    def metadata(self):
        from tensorflow_serving.apis import get_model_metadata_pb2

        request = get_model_metadata_pb2.GetModelMetadataRequest()
        request.model_spec.name = self.model_name
        request.metadata_field.append("signature_def")
        return self.stub.GetModelMetadata(request, timeout=self.timeout)

    def close(self):
        self.channel.close()
