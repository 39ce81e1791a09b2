"""The loaded versions of one exported model, as TF Serving keeps them: new numbered folders picked up
without a restart, a damaged version refused with its reason and retried only once its files change."""

import os
import re
import threading

from export.request_lib import RequestError
from nag_tf.errors import NAGError
from nag_tf.evaluation.sources import load_saved_model

__all__ = ["ModelRepository"]


class ModelRepository:
    """The loaded versions of one model; `refresh()` picks up new version folders.

    A version that fails to load is remembered with its files' sizes and times and
    tried again only when they change (a copy still in progress, a repaired export).
    """

    def __init__(self, base_dir):
        self.base_dir = base_dir
        self._versions = {}
        self._failed = {}  # version -> (files' fingerprint, reason)
        self._lock = threading.Lock()

    def _fingerprint(self, version_dir):
        entries = []
        for folder, _, files in os.walk(version_dir):
            for name in files:
                path = os.path.join(folder, name)
                try:
                    info = os.stat(path)
                except OSError:
                    continue
                entries.append((os.path.relpath(path, version_dir), info.st_size, info.st_mtime_ns))
        return tuple(sorted(entries))

    def refresh(self):
        """Loads new versions; returns messages about versions refused (empty when all is well)."""
        if not os.path.isdir(self.base_dir):
            return []
        found = sorted(
            int(n)
            for n in os.listdir(self.base_dir)
            if re.fullmatch(r"\d+", n) and os.path.exists(os.path.join(self.base_dir, n, "saved_model.pb"))
        )
        messages = []
        for version in found:
            if version in self._versions:
                continue
            version_dir = os.path.join(self.base_dir, str(version))
            fingerprint = self._fingerprint(version_dir)
            if version in self._failed and self._failed[version][0] == fingerprint:
                continue
            try:
                loaded = load_saved_model(version_dir)
            except NAGError as problem:
                with self._lock:  # failed() reads it from the request threads
                    self._failed[version] = (fingerprint, str(problem))
                messages.append(f"version {version} not loaded: {problem}; still serving versions {self.versions()}")
                continue
            with self._lock:
                self._versions[version] = loaded
                self._failed.pop(version, None)
        return messages

    def failed(self):
        """{version: reason} for versions present on disk that could not be loaded."""
        with self._lock:
            return {version: reason for version, (_, reason) in self._failed.items()}

    def versions(self):
        with self._lock:
            return sorted(self._versions)

    def get(self, version=None):
        with self._lock:
            if not self._versions:
                raise RequestError("no version of the model is loaded yet")
            if version is None:
                return max(self._versions), self._versions[max(self._versions)]
            if version not in self._versions:
                raise RequestError(f"version {version} is not available; available: {sorted(self._versions)}")
            return version, self._versions[version]
