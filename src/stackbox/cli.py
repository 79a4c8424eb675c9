"""`stackbox serve | bootstrap | openrc`."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from stackbox.config import Settings


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(
        data_dir=getattr(args, "data_dir", None),
        metadata_url=getattr(args, "metadata", None),
        host=getattr(args, "host", None),
        identity_port=getattr(args, "identity_port", None),
        object_port=getattr(args, "object_port", None),
        workers=getattr(args, "workers", None),
        public_host=getattr(args, "public_host", None),
        public_identity_url=getattr(args, "public_identity_url", None),
        public_object_url=getattr(args, "public_object_url", None),
        s3_global_bucket_names=getattr(args, "s3_global_bucket_names", None),
        blobs_url=getattr(args, "blobs", None),
    )


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="where the store lives (STACKBOX_DATA_DIR, ./stackbox-data)")
    parser.add_argument("--host", help="address to listen on (STACKBOX_HOST, 127.0.0.1)")
    parser.add_argument("--identity-port", type=int,
                        help="Keystone v3 API port (STACKBOX_IDENTITY_PORT, 5000)")
    parser.add_argument("--object-port", type=int, help="Swift + S3 API port (STACKBOX_OBJECT_PORT, 8080)")
    parser.add_argument("--public-host", help="host name for the catalog and openrc (STACKBOX_PUBLIC_HOST)")
    parser.add_argument("--public-identity-url",
                        help="identity's URL as clients reach it, e.g. a load balancer's http://lb:5000 "
                        "(STACKBOX_PUBLIC_IDENTITY_URL; default: this node's host and port)")
    parser.add_argument("--public-object-url",
                        help="the object store's URL as clients reach it, e.g. http://lb:8080 "
                        "(STACKBOX_PUBLIC_OBJECT_URL; default: this node's host and port)")


def cmd_bootstrap(args: argparse.Namespace) -> int:
    from stackbox.identity.bootstrap import bootstrap
    from stackbox.identity.keys import ClusterKeyError

    settings = _settings(args)
    try:
        result = bootstrap(settings)
    except ClusterKeyError as error:
        print(f"stackbox: {error}", file=sys.stderr)
        return 1
    if result.admin_password:
        print(f"Created admin user 'admin' with password: {result.admin_password}")
    else:
        print("Already bootstrapped.")
    print(f"Admin openrc: {result.openrc_path}")
    return 0


def cmd_openrc(args: argparse.Namespace) -> int:
    from stackbox.identity.bootstrap import render_openrc

    print(render_openrc(_settings(args), user=args.user, project=args.project), end="")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from stackbox.identity.bootstrap import bootstrap
    from stackbox.identity.keys import ClusterKeyError
    from stackbox.server import serve
    from stackbox.storage.blob_backend import check_backend_url
    from stackbox.storage.engine import Engine
    from stackbox.storage.types import SchemaTooNew

    settings = _settings(args)
    # Recovery first: it deletes leftovers before anything writes, so a full disk can start. It also
    # upgrades the catalog of an earlier release, and refuses one a newer release wrote. Its
    # connection to a remote blob backend is closed before the workers fork (each opens its own).
    try:
        check_backend_url(settings.blobs_url)
        Engine.recover(settings.data_dir, settings.blobs_url, metadata=settings.metadata_url)
    except (SchemaTooNew, ValueError) as error:
        print(f"stackbox: {error}", file=sys.stderr)
        return 1
    except (OSError, RuntimeError) as error:  # unreachable, refused, or no python3-rados
        print(f"stackbox: cannot reach the blob backend {settings.blobs_url}: {error}",
              file=sys.stderr)
        return 1
    try:
        result = bootstrap(settings)
    except ClusterKeyError as error:
        print(f"stackbox: {error}", file=sys.stderr)
        return 1

    def ready() -> None:
        lines = [
            "stackbox is running",
            f"  identity (Keystone v3): {settings.identity_url}",
            f"  object store (Swift):   {settings.object_url}/v1/AUTH_<project_id>",
            f"  S3:                     {settings.object_url}  (region {settings.s3_region})",
            f"  data:                   {settings.data_dir}",
            *([f"  object data:            {settings.blobs_url}"] if settings.blobs_url != "file" else []),
            f"  workers:                {settings.workers}",
        ]
        if result.admin_password:
            lines.append(f"  admin password:         {result.admin_password}  (shown once)")
        lines.append(f"  admin openrc:           {result.openrc_path}")
        lines.append(f"Try: source {result.openrc_path} && openstack ec2 credentials create")
        print("\n".join(lines), flush=True)

    serve(settings, on_ready=ready)
    return 0


def cmd_kms(args: argparse.Namespace) -> int:
    """`stackbox kms create|list|enable|disable|rotate`: the keys of SSE-S3 and SSE-KMS."""
    from stackbox.identity.keys import ClusterKeyError, shared_kms_master
    from stackbox.sql import is_url, open_database
    from stackbox.storage.keys import KeyService
    from stackbox.storage.types import KeyNotFound

    settings = _settings(args)
    try:
        master = shared_kms_master(settings)
    except ClusterKeyError as error:
        print(f"stackbox kms: {error}", file=sys.stderr)
        return 1
    database = open_database(settings.metadata_url, pool_size=1) if is_url(settings.metadata_url) else None
    keys = KeyService(settings.data_dir / "kms", database, master_key=master)
    action = args.kms_action
    try:
        if action == "create":
            records = [keys.create(args.description or "", args.alias)]
        elif action == "list":
            records = keys.list()
        elif action == "rotate":
            records = [keys.rotate(args.key)]
        else:
            records = [keys.set_enabled(args.key, action == "enable")]
    except (KeyNotFound, ValueError) as error:
        print(f"stackbox kms: {error}", file=sys.stderr)
        return 1
    finally:
        if database is not None:
            database.close()
    region = settings.s3_region
    print(f"{'KeyId':36}  {'State':8}  {'Versions':8}  {'Alias':24}  Arn")
    for record in records:
        state = "Enabled" if record.enabled else "Disabled"
        arn = f"arn:aws:kms:{region}:000000000000:key/{record.key_id}"
        print(f"{record.key_id:36}  {state:8}  {len(record.versions):<8}  {record.alias or '-':24}  {arn}")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    """`stackbox migrate`: upgrade the metadata backend's schemas; prints each one's versions."""
    from psycopg import Error as DatabaseError

    from stackbox.migrate import migrate
    from stackbox.storage.types import SchemaTooNew

    try:
        changes = migrate(_settings(args))
    except (SchemaTooNew, ValueError, DatabaseError) as error:
        print(f"stackbox migrate: {error}", file=sys.stderr)
        return 1
    for change in changes:
        print(change.describe())
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """`stackbox import --from DATA_DIR`: copy an embedded data dir into PostgreSQL + RADOS."""
    from psycopg import Error as DatabaseError

    from stackbox.identity.keys import ClusterKeyError
    from stackbox.importer import ImportRefused, import_data_dir
    from stackbox.storage.types import DataUnavailable, SchemaTooNew

    try:
        report = import_data_dir(Path(args.source).resolve(), _settings(args))
    except DataUnavailable as missing:
        print(f"stackbox import: the data dir's blob {missing} is missing or short", file=sys.stderr)
        return 1
    except (ImportRefused, ClusterKeyError, SchemaTooNew, ValueError, DatabaseError, OSError) as error:
        print(f"stackbox import: {error}", file=sys.stderr)
        return 1
    for line in report.lines():
        print(line)
    return 0


def cmd_cluster_key(args: argparse.Namespace) -> int:
    """`stackbox cluster-key create PATH`: the key file every node of a PostgreSQL deployment shares."""
    from stackbox.identity.keys import create_cluster_key

    path = Path(args.path)
    if not create_cluster_key(path):
        print(f"stackbox cluster-key: {path} exists; it is left as it is", file=sys.stderr)
        return 1
    print(f"Created {path} (0600). Copy it to every node and point STACKBOX_CLUSTER_KEY_FILE at it.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stackbox", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run identity, Swift and S3 in the foreground")
    _add_common(serve)
    serve.add_argument("--metadata", help="where the catalog lives: sqlite (in the data dir) or a "
                       "postgresql://user:password@host:port/db URL (STACKBOX_METADATA, sqlite)")
    serve.add_argument("--workers", type=int, help="worker processes (STACKBOX_WORKERS, CPU count)")
    serve.add_argument("--blobs", metavar="URL",
                       help="where object data lives: file (DATA_DIR/blobs) or "
                            "rados://POOL?conf=PATH&id=USER&namespace=NS (STACKBOX_BLOBS, file)")
    serve.add_argument("--s3-global-bucket-names", action="store_true", default=None,
                       help="one bucket namespace for all projects, as AWS (STACKBOX_S3_GLOBAL_BUCKET_NAMES)")
    serve.set_defaults(func=cmd_serve)

    migrate = sub.add_parser("migrate", help="upgrade the metadata schemas to this release's (idempotent)")
    migrate.add_argument("--data-dir", help="where the store lives (STACKBOX_DATA_DIR, ./stackbox-data)")
    migrate.add_argument("--metadata", help="sqlite (in the data dir) or a postgresql:// URL "
                         "(STACKBOX_METADATA, sqlite)")
    migrate.set_defaults(func=cmd_migrate)

    importer = sub.add_parser(
        "import", help="copy an embedded data dir into PostgreSQL + RADOS (verified, resumable)",
        description="Copy a stopped embedded data dir (SQLite + files) into a PostgreSQL database and a "
        "RADOS pool before any node serves from them: every referenced blob (read back and its MD5 "
        "compared), the KMS keys (resealed under the cluster's master key), identity (EC2 secrets "
        "re-encrypted under the cluster's credential key) and the catalog. Like a first node, it makes the "
        "cluster key file if the database holds no keys yet. A rerun copies what is missing and skips "
        "what is there; a target holding other users or containers is refused. Not copied: tokens the "
        "data dir issued (clients authenticate again), revoked tokens, unreferenced blobs.")
    importer.add_argument("--from", dest="source", required=True, metavar="DATA_DIR",
                          help="the embedded data dir to copy (its server must be stopped)")
    importer.add_argument("--data-dir", help="this node's data dir (STACKBOX_DATA_DIR; the default "
                          "place of the cluster key file, STACKBOX_CLUSTER_KEY_FILE)")
    importer.add_argument("--metadata", help="the target postgresql:// URL (STACKBOX_METADATA)")
    importer.add_argument("--blobs", metavar="URL", help="the target rados://POOL?conf=PATH&id=USER "
                          "(STACKBOX_BLOBS)")
    importer.set_defaults(func=cmd_import)

    boot = sub.add_parser("bootstrap", help="create keys, the admin user and the catalog (idempotent)")
    _add_common(boot)
    boot.set_defaults(func=cmd_bootstrap)

    openrc = sub.add_parser("openrc", help="print an openrc file for a user and project")
    _add_common(openrc)
    openrc.add_argument("--user", required=True)
    openrc.add_argument("--project", required=True)
    openrc.set_defaults(func=cmd_openrc)

    kms = sub.add_parser("kms", help="manage the keys of server-side encryption (SSE-S3, SSE-KMS)")
    kms_actions = kms.add_subparsers(dest="kms_action", required=True)
    create = kms_actions.add_parser("create", help="create a key (its id is what SSE-KMS requests name)")
    create.add_argument("--alias", help="a name for the key: alias/NAME in requests")
    create.add_argument("--description")
    kms_actions.add_parser("list", help="list the keys")
    for action, text in (("enable", "let a disabled key encrypt and decrypt again"),
                         ("disable", "stop a key from encrypting or decrypting (its objects are unreadable)"),
                         ("rotate", "add a key version: new objects use it, old ones stay readable")):
        command = kms_actions.add_parser(action, help=text)
        command.add_argument("key", help="key id, alias/NAME or ARN")
    for command in kms_actions.choices.values():
        command.add_argument("--data-dir", help="where the store lives (STACKBOX_DATA_DIR, ./stackbox-data)")
        command.add_argument("--metadata", help="the catalog's PostgreSQL URL, where the keys of every "
                             "node live (STACKBOX_METADATA; sqlite: keys.json in the data dir)")
    kms.set_defaults(func=cmd_kms)

    cluster_key = sub.add_parser("cluster-key", help="the key file every node sharing a PostgreSQL "
                                 "database needs (it encrypts the keys stored there)")
    cluster_key_actions = cluster_key.add_subparsers(dest="cluster_key_action", required=True)
    create_key = cluster_key_actions.add_parser("create", help="write a new cluster key file (mode 0600); "
                                                "an existing file is never replaced")
    create_key.add_argument("path")
    cluster_key.set_defaults(func=cmd_cluster_key)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
