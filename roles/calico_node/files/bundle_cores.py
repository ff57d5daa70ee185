"""Bundle the host-side cores into one zip the agent imports from (zipimport): one file to copy.

Run once per play on the controller by the calico_node role. The zip holds
``ansible_collections/calico/network/plugins/module_utils/*.py`` (with the package
``__init__.py`` files a zip needs) and is byte-for-byte the same for the same sources: names
sorted, fixed timestamps and modes, no compression (zlib versions differ between controllers),
so the copy to each host is ``changed`` exactly when a core changed.

Usage: bundle_cores.py MODULE_UTILS_DIR OUTPUT_ZIP
"""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

PACKAGE = "ansible_collections/calico/network/plugins/module_utils"
STAMP = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip can hold


def members(module_utils: Path) -> dict[str, bytes]:
    """Archive name -> content: every core, and an empty ``__init__.py`` per parent package."""
    files = {f"{PACKAGE}/{path.name}": path.read_bytes() for path in module_utils.glob("*.py")}
    parts = PACKAGE.split("/")
    for depth in range(1, len(parts)):
        files.setdefault("/".join(parts[:depth]) + "/__init__.py", b"")
    files.setdefault(f"{PACKAGE}/__init__.py", b"")
    return files


def bundle(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=STAMP)
            info.external_attr = 0o644 << 16
            archive.writestr(info, files[name])
    return buffer.getvalue()


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: bundle_cores.py MODULE_UTILS_DIR OUTPUT_ZIP\n")
        return 2
    source = Path(argv[0])
    files = members(source)
    if not any(name.endswith("/node_agent.py") for name in files):
        sys.stderr.write(f"{source} holds no node_agent.py: not the collection's module_utils\n")
        return 1
    Path(argv[1]).write_bytes(bundle(files))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
