"""Settings: command-line flags override STACKBOX_* environment variables, which override defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

#: Settings whose environment variable is not STACKBOX_<FIELD NAME>.
_ENV_NAMES = {"blobs_url": "BLOBS", "metadata_url": "METADATA"}


def _env(name: str, default: Any) -> Any:
    raw = os.environ.get(f"STACKBOX_{_ENV_NAMES.get(name, name).upper()}")
    if raw is None:
        return default
    if isinstance(default, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, Path):
        return Path(raw)
    return raw


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("./stackbox-data")
    #: where object data lives: `file` (DATA_DIR/blobs) or `rados://POOL?conf=PATH&id=USER&namespace=NS`
    #: (a Ceph RADOS pool every node shares); env STACKBOX_BLOBS
    blobs_url: str = "file"
    #: where the storage catalog (and identity) live: `sqlite` (files in the data dir) or a
    #: `postgresql://user:password@host:port/db` URL (env STACKBOX_METADATA)
    metadata_url: str = "sqlite"
    host: str = "127.0.0.1"
    identity_port: int = 5000
    object_port: int = 8080
    #: Host name put in the service catalog and openrc; defaults to `host`.
    public_host: str = ""
    #: The URLs clients reach identity and the object store at, when not this node's own (behind a load
    #: balancer: every node advertises the balancer in the catalog, the openrc and Location headers).
    public_identity_url: str = ""
    public_object_url: str = ""
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    region: str = "RegionOne"
    s3_region: str = "us-east-1"
    #: Virtual-hosted-style S3 requests address `BUCKET.<s3_domain>`.
    s3_domain: str = "localhost"
    #: AWS's global bucket namespace: a name any project holds (S3 bucket or Swift container) is refused
    #: to the others (BucketAlreadyExists; Swift 409). Off: names are per project, as Swift's containers.
    s3_global_bucket_names: bool = False
    token_ttl: int = 3600
    log_level: str = "warning"
    #: fsync object data and the metadata journal before acknowledging a write.
    fsync: bool = True
    #: seconds between housekeeping passes (expired objects, stale uploads, freed blobs)
    maintenance_interval: int = 15
    #: seconds in a lifecycle "day" (S3 lifecycle rules count days); shorten it to watch rules act
    lifecycle_day_seconds: int = 86400
    #: failed password checks in a row that lock a user out (Keystone's `lockout_failure_attempts`; 0 = never)
    lockout_failure_attempts: int = 0
    #: seconds a locked-out user stays locked (Keystone's `lockout_duration`)
    lockout_duration: int = 1800
    #: seconds a client may take to send a request head (a new connection has as long to start one)
    header_timeout: int = 30
    #: seconds a request body, or the client reading a response, may stall (Swift's `client_timeout`)
    body_timeout: int = 60
    #: seconds an idle keep-alive connection stays open
    keep_alive_timeout: int = 30
    #: addresses of reverse proxies (comma-separated, or `*`) whose X-Forwarded-For/-Proto name the
    #: client's address and scheme; none by default (a caller's own headers would set aws:SourceIp,
    #: aws:SecureTransport and TempURL's ip range)
    forwarded_allow_ips: str = ""
    #: connections one worker process holds at most; further ones are answered 503 and closed
    max_connections: int = 1000
    #: object data is refused (507) while the data dir's file system (or the RADOS cluster) has less
    #: free space than this, which keeps room for metadata commits, deletes and start-up recovery
    reserve_bytes: int = 64 << 20
    #: Swift proxy's `cors_allow_origin`: origins (comma-separated) every container allows
    cors_allow_origin: str = ""
    #: Swift proxy's `cors_expose_headers`: headers (comma-separated) every CORS answer exposes
    cors_expose_headers: str = ""
    #: Swift proxy's `strict_cors_mode`: CORS headers only for origins a container (or the above) allows
    strict_cors_mode: bool = True
    #: accept SSE-C (customer keys) over plain HTTP: stackbox serves HTTP and usually sits behind a TLS
    #: proxy; false refuses SSE-C requests not made over https (as AWS does; a trusted proxy's
    #: X-Forwarded-Proto counts, see forwarded_allow_ips)
    sse_c_plain_http: bool = True
    #: threads per worker that run metadata calls off the event loop; 0 runs them inline, as a local
    #: SQLite catalog wants (a network catalog picks its own number); N > 0 forces that path on SQLite
    metadata_threads: int = 0
    #: with PostgreSQL: the key file every node shares; it encrypts the keys kept in the database
    #: (token and credential keys, the KMS master key). Default: DATA_DIR/cluster.key
    cluster_key_file: str = ""

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        values: dict[str, Any] = {}
        defaults = cls()
        for f in fields(cls):
            values[f.name] = _env(f.name, getattr(defaults, f.name))
        values.update({k: v for k, v in overrides.items() if v is not None})
        values["data_dir"] = Path(values["data_dir"]).resolve()
        return cls(**values)

    @property
    def embedded_metadata(self) -> bool:
        """Whether metadata is in the data dir's SQLite files (not a database server)."""
        return self.metadata_url == "sqlite"

    @property
    def cluster_key_path(self) -> Path:
        return Path(self.cluster_key_file) if self.cluster_key_file else self.data_dir / "cluster.key"

    @property
    def advertised_host(self) -> str:
        if self.public_host:
            return self.public_host
        return "127.0.0.1" if self.host in {"0.0.0.0", "::", ""} else self.host

    @property
    def identity_url(self) -> str:
        if self.public_identity_url:
            return f"{self.public_identity_url.rstrip('/')}/v3"
        return f"http://{self.advertised_host}:{self.identity_port}/v3"

    @property
    def object_url(self) -> str:
        if self.public_object_url:
            return self.public_object_url.rstrip("/")
        return f"http://{self.advertised_host}:{self.object_port}"
