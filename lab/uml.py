#!/usr/bin/env python3
"""Run one command inside a User-mode Linux kernel whose root is this machine's file system.

    python3 lab/uml.py run [--mem 1536M] [--timeout 900] -- COMMAND [ARG ...]

Debian's user-mode-linux package (`make deps`) is a real 6.1 kernel run as an ordinary program.
It has the modules this machine's kernel may lack (ipip for the seed's IPIP mode), so the kernel
integration tests run a second time here (`make integration`). The guest:

* boots with `rootfstype=hostfs rootflags=/`: the checkout, .venv, bird and ip are all there;
* mounts proc, sysfs and tmpfs on /run, /tmp and /dev/shm, so it writes nothing to the real
  disk except the scratch directory this launcher made (command status and console log);
* loads MODULES by path, their dependencies first (read from the package's modules.dep):
  modprobe would need /lib/modules/<uml version>, which the machine does not have;
* runs COMMAND in the checkout, writes its exit status to the scratch directory and powers off.
  UML's own exit status is 0 even when the guest panics, so the status file is the result.

Hosts whose CPUs have AVX-512/AMX save more FPU state than UML 6.1 expects, and the host kernel
refuses UML's short buffer (every guest program dies: "ptrace set fp regs failed"). A small
LD_PRELOAD shim (lab/uml_xstate_shim.c, compiled here with cc) passes the host its full buffer;
the guest's glibc is told not to use AVX-512, whose registers the shim does not carry.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
KERNEL = Path("/usr/bin/linux.uml")
MODULES_ROOT = Path("/usr/lib/uml/modules")
SHIM_SOURCE = Path(__file__).resolve().parent / "uml_xstate_shim.c"
# What the integration tests touch: veth and bridge underlays, both tunnel kinds, and the
# iptables matches and targets the rules use, for the nft and legacy backends.
MODULES = (
    "veth", "bridge", "ipip", "vxlan",
    "nf_tables", "nft_compat", "ip_tables", "iptable_filter", "iptable_raw", "iptable_mangle",
    "iptable_nat", "xt_conntrack", "xt_mark", "xt_comment", "xt_tcpudp", "xt_multiport",
    "ipt_rpfilter", "xt_MASQUERADE", "xt_nat", "xt_LOG", "xt_addrtype",
)  # fmt: skip
GUEST_TUNABLES = "glibc.cpu.hwcaps=-AVX512F,-AVX512VL,-AVX512BW,-AVX512DQ,-AVX512CD"
# The guest mounts a fresh tmpfs on these, so it writes nothing to the machine's own.
TMPFS_DIRS = (Path("/run"), Path("/tmp"), Path("/dev/shm"))
GUEST_PATH = f"{REPO / '.venv/bin'}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class UmlError(Exception):
    """A problem the user can fix; main() prints it without a traceback."""


def parse_modules_dep(text: str) -> dict[str, list[str]]:
    """modules.dep lines (``kernel/a/x.ko: kernel/b/y.ko ...``) as {path: [dependency paths]}."""
    deps: dict[str, list[str]] = {}
    for line in text.splitlines():
        if ":" in line:
            module, _, rest = line.partition(":")
            deps[module.strip()] = rest.split()
    return deps


def load_order(names: Sequence[str], deps: Mapping[str, list[str]]) -> list[str]:
    """Module paths to insmod for ``names``: every dependency before its user, each once."""
    by_name = {Path(path).name.split(".ko")[0]: path for path in deps}
    missing = [name for name in names if name not in by_name]
    if missing:
        raise UmlError(f"the UML kernel has no module {', '.join(missing)} (modules.dep)")
    order: list[str] = []

    def visit(path: str) -> None:
        if path in order:
            return
        # modules.dep lists a module's dependencies deepest last: load from the end.
        for dependency in reversed(deps.get(path, [])):
            visit(dependency)
        order.append(path)

    for name in names:
        visit(by_name[name])
    return order


def guest_init(
    command: Sequence[str], modules: Sequence[Path], scratch: Path, env: Mapping[str, str]
) -> str:
    """The guest's /sbin/init: a POSIX shell script (the machine's /bin/sh runs it)."""
    exports = "".join(f"export {key}={shlex.quote(value)}\n" for key, value in env.items())
    insmods = "".join(f"insmod {shlex.quote(str(path))}\n" for path in modules)
    status = shlex.quote(str(scratch / "status"))
    remount = checkout_remount(REPO)
    tmpfs_dirs = " ".join(str(path) for path in TMPFS_DIRS)
    return f"""#!/bin/sh
# Written by lab/uml.py: runs as PID 1 inside the UML kernel.
[ -n "$GLIBC_TUNABLES" ] || exec /usr/bin/env GLIBC_TUNABLES={GUEST_TUNABLES} "$0"
export PATH={shlex.quote(GUEST_PATH)}
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mkdir -p /dev/shm
for dir in {tmpfs_dirs}; do mount -t tmpfs -o mode=1777 uml-tmp "$dir"; done
mkdir -p /run/lock
set -e
{remount}{insmods}set +e
{exports}mkdir -p "$HOME"
cd {shlex.quote(str(REPO))}
echo "uml: $(uname -r), modules loaded, running: {shlex.join(command)}"
{shlex.join(command)}
echo $? > {status}
poweroff -f
"""


def checkout_remount(repo: Path) -> str:
    """Shell lines that bring the checkout back when a guest tmpfs hides it (a clone in /tmp):
    the host's directory mounted again over the same path, through hostfs."""
    if not any(repo.is_relative_to(tmpfs) for tmpfs in TMPFS_DIRS):
        return ""
    path = shlex.quote(str(repo))
    return f"mkdir -p {path}\nmount -t hostfs -o {path} hostfs {path}\n"


def kernel_version() -> str:
    versions = sorted(MODULES_ROOT.iterdir()) if MODULES_ROOT.is_dir() else []
    if not KERNEL.exists() or not versions:
        raise UmlError(f"{KERNEL} not found: install user-mode-linux (make deps)")
    return versions[-1].name


def build_shim(scratch: Path) -> Path:
    compiler = shutil.which("cc")
    if compiler is None:
        raise UmlError("cc not found: install gcc and libc6-dev (make deps)")
    shim = scratch / "uml_xstate_shim.so"
    result = subprocess.run(
        [compiler, "-O2", "-shared", "-fPIC", "-o", str(shim), str(SHIM_SOURCE), "-ldl"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise UmlError(f"compiling {SHIM_SOURCE.name} failed: {result.stderr.strip()}")
    return shim


def follow(console: Path, process: subprocess.Popen, deadline: float) -> bool:
    """Copy the guest console to stdout until UML ends; False if the deadline passed."""
    offset = 0
    while True:
        ended = process.poll() is not None
        with console.open("rb") as stream:
            stream.seek(offset)
            chunk = stream.read()
        offset += len(chunk)
        sys.stdout.write(chunk.decode(errors="replace"))
        sys.stdout.flush()
        if ended:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)


def run_in_uml(
    command: Sequence[str],
    mem: str,
    timeout: float,
    env: Mapping[str, str],
    names: Sequence[str] = MODULES,
) -> int:
    """Boot UML, load the modules ``names`` (and their dependencies), run ``command``: its
    exit status, or 124 (timeout) or 125 (no status: the guest died)."""
    version = kernel_version()
    deps = parse_modules_dep((MODULES_ROOT / version / "modules.dep").read_text())
    modules = [MODULES_ROOT / version / path for path in load_order(names, deps)]
    scratch = Path(tempfile.mkdtemp(prefix="calico-uml-", dir="/var/tmp"))
    init = scratch / "init"
    init.write_text(guest_init(command, modules, scratch, env))
    init.chmod(0o755)
    console = scratch / "console.log"
    console.touch()
    shim = build_shim(scratch)
    started = time.monotonic()
    with console.open("wb") as out:
        process = subprocess.Popen(
            [
                str(KERNEL), f"mem={mem}", "root=/dev/root", "rootfstype=hostfs", "rootflags=/",
                "rw", "quiet", f"init={init}", "con=null", "con0=fd:0,fd:1",
            ],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, "LD_PRELOAD": str(shim)}, start_new_session=True,
        )  # fmt: skip
        finished = follow(console, process, started + timeout)
    # UML leaves helper processes behind when it is killed: end its whole session.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    elapsed = time.monotonic() - started
    status_file = scratch / "status"
    if not finished:
        print(f"uml: no result after {timeout:.0f} s; console log kept in {console}")
        return 124
    if not status_file.exists():
        print(f"uml: the guest ended without a status (panic?); console log kept in {console}")
        return 125
    status = int(status_file.read_text().strip() or "1")
    print(f"uml: command exited {status} after {elapsed:.1f} s (boot and power-off included)")
    shutil.rmtree(scratch)
    return status


def guest_env() -> dict[str, str]:
    """The guest command's environment: a HOME on the guest's tmpfs, no .pyc on the machine."""
    env = {"HOME": "/tmp/home", "PYTHONDONTWRITEBYTECODE": "1", "CALICO_UML": "1"}
    return env | {
        key: os.environ[key] for key in ("TERM", "ANSIBLE_FORCE_COLOR") if key in os.environ
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="action", required=True)
    run = sub.add_parser("run", help="boot UML, run COMMAND in the checkout, power off")
    run.add_argument("--mem", default="1536M", help="guest memory (tmpfs /tmp lives in it)")
    run.add_argument("--timeout", type=float, default=900.0, help="seconds before giving up")
    run.add_argument("command", nargs="+", help="the command (put it after --)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("uml.py: run as root (the guest is root on the machine's file system)")
        return 2
    try:
        return run_in_uml(args.command, args.mem, args.timeout, guest_env())
    except UmlError as err:
        print(f"uml.py: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
