"""The storage engine shared by the S3 and Swift front ends.

Front ends call `contract.ObjectStore` (implemented by `async_store.AsyncStore` over
`engine.Engine`, every metadata call awaited) and use the values and exceptions of
`stackbox.storage.types`; nothing else here is theirs to call.

Inside: `metadata.Catalog` (SQLite: accounts, containers, object versions, blob reference counts,
uploads), `schema` (the catalog's DDL, schema version and in-place upgrades), `versions` (version
ids, version listings),
`blob_backend` (where object data lives: `file_blobs` over `blobs.BlobStore`, the immutable blob
files, or `rados_blobs`, Ceph RADOS; `reclaim` deletes freed blobs), `ingest` (streaming a body in:
hashing, verification, inline vs blob), `listing` (O(page) listings with delimiter seeks),
`multipart` (S3 uploads),
`codec` (column encodings, extent slicing), `checksums` (MD5 + S3's additional checksums),
`commits` (group commit of a worker's concurrent writes), `pipeline` (hashing and writing large
bodies in worker threads).
A PostgreSQL catalog replaces `Catalog` with the same methods; another blob backend implements
`blob_backend.BlobBackend`.
"""
