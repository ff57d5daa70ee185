#!/usr/bin/env bash
# ansible-test sanity on what the collection ships: build the tarball, install it into a
# scratch tree (ansible-test must run inside ansible_collections/<namespace>/<name>, a real
# directory: this repository's .collections symlink resolves back to the repository root, and
# the tarball leaves that symlink out, galaxy.yml build_ignore), run every sanity test with the
# venv's Python. ansible-test makes a virtualenv per test and bootstraps pip in it with a
# script it downloads from a CI host; tools/get_pip_offline.py stands in for it (pip from the
# standard library, then the pinned packages from the package index), so nothing but the
# package index is reached. Prints how long it took.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
# Outside the repository: inside it, ansible-test would list files with git and find none.
scratch=${SANITY_DIR:-${TMPDIR:-/tmp}/calico-network-sanity}
bin=$repo/.venv/bin
start=$(date +%s)
rm -rf "$scratch/build" "$scratch/collections"
mkdir -p "$scratch/build" "$scratch/home/.ansible/test/cache"
"$bin/ansible-galaxy" collection build --force --output-path "$scratch/build" "$repo" >/dev/null
target=$scratch/collections/ansible_collections/calico/network
mkdir -p "$target"
tar -xzf "$scratch"/build/calico-network-*.tar.gz -C "$target"
# The pip version ansible-test pins for its virtualenvs names the script it looks for.
pip_version=$("$bin/python" -c '
from ansible_test._internal.python_requirements import get_venv_packages
from ansible_test._internal.host_configs import NativePythonConfig
import sys
print(get_venv_packages(NativePythonConfig(version="%d.%d" % sys.version_info[:2]))["pip"])')
cp "$repo/tools/get_pip_offline.py" \
  "$scratch/home/.ansible/test/cache/get_pip_${pip_version//./_}.py"
python_version=$("$bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
cd "$target"
HOME=$scratch/home "$bin/ansible-test" sanity --local --python "$python_version" --color no
echo "sanity: passed in $(($(date +%s) - start)) s"
