"""stackbox: an OpenStack-compatible object-storage cloud (Keystone v3, Swift v1 and S3 on one store)."""

__version__ = "0.1.0"
