#!/bin/sh
# Installs what the scale-out backends' tests need, when missing: Debian's Ceph daemons and
# python3-rados, HAProxy (the balancer of `make test-cluster` and the two-node tests), and PostgreSQL; then makes `import rados` work in the virtual environment $1.
# Without apt (or without root) nothing is installed and those tests skip, saying why.
venv=${1:-.venv}

missing=""
for tool in ceph-mon ceph-mgr ceph-osd radosgw haproxy; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || missing="$missing $tool"
done
ls /usr/lib/python3/dist-packages/rados.*.so >/dev/null 2>&1 || missing="$missing python3-rados"
# PostgreSQL may come from anywhere (initdb on PATH); Debian's package keeps it in /usr/lib/postgresql/*/bin.
command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$missing postgresql"

if [ -n "$missing" ]; then
  if command -v apt-get >/dev/null 2>&1 && \
     { apt-get install -y -qq $missing >/dev/null 2>&1 || \
       { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq $missing >/dev/null 2>&1; }; }; then
    :
  else
    echo "could not install$missing: the Ceph/PostgreSQL backend tests will be skipped"
  fi
fi

# python3-rados is built for Debian's python3: link just the extension module into the venv when the
# venv's interpreter has the same ABI (the file name carries it, e.g. rados.cpython-311-x86_64-linux-gnu.so).
"$venv/bin/python" - <<'PYTHON'
import pathlib
import sysconfig

source = pathlib.Path("/usr/lib/python3/dist-packages") / ("rados" + sysconfig.get_config_var("EXT_SUFFIX"))
target = pathlib.Path(sysconfig.get_paths()["platlib"]) / source.name
if not source.exists():
    found = sorted(path.name for path in source.parent.glob("rados.*.so"))
    if found:
        print(f"python3-rados ({', '.join(found)}) does not match this interpreter's ABI "
              f"({source.name}): the RADOS tests will be skipped")
elif not target.exists():
    target.symlink_to(source)
PYTHON
