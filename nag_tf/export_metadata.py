"""What an exported generator must carry to be scored and served as it was trained: one record, one reader.

`export.saved_model_lib` writes it beside the SavedModel (`assets/nag_metadata.json`, ignored by TF
Serving); `nag_tf.evaluation.sources.ExportedSource` and the export's own `perturb` signature read it through
`read_metadata`, so an exported targeted or unclipped generator is scored exactly as its training log
directory is. It lives in nag_tf (TensorFlow-free) because nag_tf.evaluation.sources must not import export.
"""

import dataclasses
import hashlib
import json
import os
import warnings

__all__ = ["METADATA_ASSET", "ExportMetadata", "metadata_path", "write_metadata", "read_metadata", "config_hash"]

METADATA_ASSET = "nag_metadata.json"


@dataclasses.dataclass(frozen=True)
class ExportMetadata:
    """The choices an exported generator was trained under (the SavedModel holds only its weights).

    clip, resize and target_class decide how evaluation scores it; norm and xi what its budget means;
    config_sha256 names the training config it came from (None for a generator without one).
    """

    xi: float
    target: str
    latent_dim: int
    image_size: int
    version: int
    norm: str = "linf"
    clip: bool = True
    resize: str = "crop"
    target_class: int | None = None
    config_sha256: str | None = None


def config_hash(config):
    """sha256 of a TrainConfig's JSON: which training run an export came from."""
    return hashlib.sha256(config.to_json().encode("utf-8")).hexdigest()


def metadata_path(version_dir):
    return os.path.join(version_dir, "assets", METADATA_ASSET)


def write_metadata(version_dir, metadata):
    os.makedirs(os.path.dirname(metadata_path(version_dir)), exist_ok=True)
    with open(metadata_path(version_dir), "w") as handle:
        json.dump(dataclasses.asdict(metadata), handle, indent=2)


def read_metadata(version_dir):
    """The ExportMetadata of an exported version. An export from before a field existed loads with that
    field's default and one warning naming what was assumed (re-export to record it).

    Raises:
      OSError, ValueError, KeyError: a missing or unreadable file, or one without the required fields.
    """
    with open(metadata_path(version_dir)) as handle:
        values = json.load(handle)
    fields = {field.name: field for field in dataclasses.fields(ExportMetadata)}
    missing = [name for name in fields if name not in values]
    assumed = {name: fields[name].default for name in missing if fields[name].default is not dataclasses.MISSING}
    if len(assumed) < len(missing):
        raise KeyError(f"{metadata_path(version_dir)} lacks {', '.join(sorted(set(missing) - set(assumed)))}")
    if assumed:
        warnings.warn(
            f"{version_dir} was exported before nag_tf recorded {', '.join(assumed)}; assuming "
            f"{', '.join(f'{k}={v}' for k, v in assumed.items())} (export it again to record them)",
            stacklevel=2,
        )
    return ExportMetadata(**{name: values.get(name, assumed.get(name)) for name in fields})
