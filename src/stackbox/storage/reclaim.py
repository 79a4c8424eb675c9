"""Deleting the data of freed blobs from the blob backend, for `Engine._purge`.

The metadata says which blobs are freed (and forgets them once their data is gone); this module only
deletes. Local files are unlinked at once, by the caller. A remote backend's deletes are round trips
that no request should wait for: they run in one background thread, and the ids whose deletes
finished are handed back on a later call, for the caller to forget in the metadata (on its own
thread: the catalog's connection is not shared with the deleting thread).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from stackbox.storage.blob_backend import BlobBackend

log = logging.getLogger("stackbox.storage")


class BlobDeletes:
    def __init__(self, blobs: BlobBackend) -> None:
        self._blobs = blobs
        self._lock = threading.Lock()
        #: Ids handed over and not yet returned as deleted (a later pass must not queue them again).
        self._queued: set[str] = set()
        self._deleted: list[str] = []
        self._worker: ThreadPoolExecutor | None = None
        if blobs.remote:
            self._worker = ThreadPoolExecutor(1, thread_name_prefix="stackbox-blob-deletes")

    def delete(self, blob_ids: Sequence[str]) -> list[str]:
        """Delete the data of `blob_ids`; returns the ids whose data is gone and which can now be
        forgotten: all of them for local files, those finished since the last call for a remote
        backend (whose deletes go on in the background)."""
        if self._worker is None:
            for blob_id in blob_ids:
                self._blobs.delete(blob_id)
            return list(blob_ids)
        with self._lock:
            fresh = [blob_id for blob_id in blob_ids if blob_id not in self._queued]
            self._queued.update(fresh)
            deleted, self._deleted = self._deleted, []
            self._queued.difference_update(deleted)
        if fresh:
            self._worker.submit(self._run, fresh)
        return deleted

    def wait(self) -> list[str]:
        """Wait for the deletes in flight; returns the ids deleted that were not returned yet."""
        if self._worker is not None:
            self._worker.submit(lambda: None).result()
        return self.delete([])

    def close(self) -> None:
        if self._worker is not None:
            self._worker.shutdown(wait=True)

    def _run(self, blob_ids: list[str]) -> None:
        for blob_id in blob_ids:
            try:
                self._blobs.delete(blob_id)
            except Exception:  # a later pass tries again: the metadata still lists it as freed
                log.warning("could not delete the data of freed blob %s", blob_id, exc_info=True)
                with self._lock:
                    self._queued.discard(blob_id)
                continue
            with self._lock:
                self._deleted.append(blob_id)
