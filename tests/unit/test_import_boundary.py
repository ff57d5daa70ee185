"""The host boundary: what ships to hosts (modules, module_utils) never reaches controller code.

Every file under plugins/modules/ and plugins/module_utils/ is parsed with ``ast``; its imports
are followed through the collection's own module_utils. A violation is

* an import, direct or through another module_utils file, of plugin_utils or a filter plugin
  (controller code Ansible never ships to a host);
* an import in a module_utils file of anything but the standard library, ansible.module_utils
  and the collection's own module_utils (hosts have nothing else);
* Python a 3.9 host cannot run: newer syntax, ``zip(strict=...)``, a ``X | None`` union
  evaluated at run time.

The checker is proven on synthetic trees, so the test fails when a module imports controller
code.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COLLECTION = "ansible_collections.calico.network"
HOST_UTILS = f"{COLLECTION}.plugins.module_utils"
CONTROLLER = (f"{COLLECTION}.plugins.plugin_utils", f"{COLLECTION}.plugins.filter")
HOST_DIRS = ("plugins/modules", "plugins/module_utils")
STDLIB = set(sys.stdlib_module_names)


def dotted(root: Path, path: Path) -> str:
    """The file's module name inside the collection."""
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join((COLLECTION, *parts))


def imported(root: Path, path: Path) -> set[str]:
    """Every module a file imports; ``from X import Y`` counts as X and X.Y."""
    names: set[str] = set()
    package = dotted(root, path).rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def module_utils_file(root: Path, name: str) -> Path | None:
    """The collection's module_utils file a name refers to, if any."""
    if not name.startswith(f"{HOST_UTILS}."):
        return None
    path = root / "plugins" / "module_utils" / Path(*name[len(HOST_UTILS) + 1 :].split("."))
    file = path.with_suffix(".py")
    return file if file.is_file() else None


def controller_imports(root: Path, path: Path, chain: tuple[str, ...] = ()) -> list[str]:
    """Controller imports reachable from ``path``, each with the chain of files leading to it."""
    here = (*chain, str(path.relative_to(root)))
    names = imported(root, path)
    bad = {n for n in names if n.startswith(CONTROLLER)}
    found = [
        f"{' -> '.join(here)} imports controller code {name}"
        for name in sorted(bad)
        if name.rsplit(".", 1)[0] not in bad  # ``from X import Y``: report X once
    ]
    for name in sorted(names):
        target = module_utils_file(root, name)
        if target is not None and str(target.relative_to(root)) not in here:
            found += controller_imports(root, target, here)
    return found


def foreign_imports(root: Path, path: Path) -> list[str]:
    """Imports a host cannot satisfy (module_utils files only)."""
    allowed = ("ansible.module_utils", HOST_UTILS)
    return [
        f"{path.relative_to(root)} imports {name}, which hosts do not have"
        for name in sorted(imported(root, path))
        if name.split(".")[0] not in STDLIB
        and not any(name == a or name.startswith(f"{a}.") for a in allowed)
    ]


def runtime_unions(tree: ast.AST) -> list[ast.BinOp]:
    """``A | B`` between names or None outside annotations (a TypeError before Python 3.10)."""
    annotations = set()
    for node in ast.walk(tree):
        for field in ("annotation", "returns"):
            value = getattr(node, field, None)
            if value is not None:
                annotations.update(id(n) for n in ast.walk(value))
    typeish = (ast.Name, ast.Attribute, ast.Subscript, ast.Constant)
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.BinOp)
        and isinstance(node.op, ast.BitOr)
        and id(node) not in annotations
        and any(
            isinstance(side, ast.Constant) and side.value is None
            for side in (node.left, node.right)
        )
        and all(isinstance(side, typeish) for side in (node.left, node.right))
    ]


def python39_problems(root: Path, path: Path) -> list[str]:
    where = path.relative_to(root)
    source = path.read_text()
    try:
        tree = ast.parse(source, str(path), feature_version=(3, 9))
    except SyntaxError as error:
        return [f"{where}:{error.lineno}: not Python 3.9 syntax: {error.msg}"]
    problems = [
        f"{where}:{node.lineno}: zip(strict=...) needs Python 3.10"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "zip"
        and any(k.arg == "strict" for k in node.keywords)
    ]
    problems += [
        f"{where}:{node.lineno}: a union with None evaluated at run time needs Python 3.10"
        for node in runtime_unions(tree)
    ]
    return problems


def host_files(root: Path) -> list[Path]:
    return sorted(p for d in HOST_DIRS for p in (root / d).glob("*.py"))


def check_tree(root: Path) -> list[str]:
    """Every boundary violation under ``root`` (a collection checkout)."""
    violations = []
    for path in host_files(root):
        violations += controller_imports(root, path)
        if path.parent.name == "module_utils":
            violations += foreign_imports(root, path)
        violations += python39_problems(root, path)
    return violations


# --------------------------------------------------------------------------- the real tree


def test_host_code_never_reaches_controller_code_or_foreign_packages():
    assert host_files(REPO), "no host files found: wrong REPO?"
    assert check_tree(REPO) == []


# --------------------------------------------------------------------------- the checker


def tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in {
        "plugins/modules/__init__.py": "",
        "plugins/module_utils/__init__.py": "",
        **files,
    }.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


CLEAN = {
    "plugins/modules/calico_x.py": (
        "from ansible.module_utils.basic import AnsibleModule\n"
        f"from {HOST_UTILS}.core import plan\n"
    ),
    "plugins/module_utils/core.py": (
        "from __future__ import annotations\nimport json\n"
        f"from {HOST_UTILS} import helper\n"
        "def plan(x: str | None) -> int | None:\n    return None\n"
    ),
    "plugins/module_utils/helper.py": "import ipaddress\n",
}


def test_a_clean_tree_passes(tmp_path):
    assert check_tree(tree(tmp_path, CLEAN)) == []


@pytest.mark.parametrize(
    "statement",
    [
        f"from {COLLECTION}.plugins.plugin_utils.model import build_model",
        f"import {COLLECTION}.plugins.plugin_utils.spec",
        f"from {COLLECTION}.plugins.plugin_utils import spec",
        f"from {COLLECTION}.plugins.filter.calico_validate import FilterModule",
        "from ..plugin_utils import encap",
    ],
)
def test_a_module_importing_controller_code_fails(tmp_path, statement):
    files = {**CLEAN, "plugins/modules/calico_x.py": CLEAN["plugins/modules/calico_x.py"]}
    files["plugins/modules/calico_x.py"] += f"{statement}\n"

    violations = check_tree(tree(tmp_path, files))

    assert len(violations) == 1
    assert violations[0].startswith("plugins/modules/calico_x.py imports controller code")


def test_controller_code_reached_through_module_utils_fails_naming_the_chain(tmp_path):
    files = {**CLEAN}
    files["plugins/module_utils/helper.py"] += (
        f"def later():\n    from {COLLECTION}.plugins.plugin_utils import ipam\n"
    )

    violations = check_tree(tree(tmp_path, files))

    assert (
        "plugins/modules/calico_x.py -> plugins/module_utils/core.py -> "
        f"plugins/module_utils/helper.py imports controller code {COLLECTION}.plugins.plugin_utils"
    ) in violations


def test_a_module_utils_importing_a_third_party_package_fails(tmp_path):
    files = {**CLEAN, "plugins/module_utils/helper.py": "import yaml\n"}

    assert check_tree(tree(tmp_path, files)) == [
        "plugins/module_utils/helper.py imports yaml, which hosts do not have"
    ]


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("pairs = list(zip(a, b, strict=True))\n", "zip(strict=...)"),
        ("match x:\n    case 1:\n        pass\n", "not Python 3.9 syntax"),
        ("ok = isinstance(x, str | None)\n", "union with None"),
    ],
)
def test_python_a_39_host_cannot_run_fails(tmp_path, source, problem):
    files = {**CLEAN, "plugins/module_utils/helper.py": source}

    violations = check_tree(tree(tmp_path, files))

    assert len(violations) == 1 and problem in violations[0]


# --------------------------------------------------------------------------- the agent

AGENT_LAUNCHER = REPO / "roles" / "calico_node" / "templates" / "calico-node.j2"


def test_the_agent_launcher_reaches_only_the_cores_and_the_standard_library():
    """calico-node runs on hosts with the cores the role copies beside it and nothing else."""
    names = imported(REPO, AGENT_LAUNCHER)
    entry = f"{HOST_UTILS}.node_agent"
    assert entry in names
    assert [
        n for n in names if n.split(".")[0] not in STDLIB and not n.startswith(HOST_UTILS)
    ] == []
    agent = module_utils_file(REPO, entry)
    assert agent is not None
    assert controller_imports(REPO, agent) == []
    assert foreign_imports(REPO, agent) == []
