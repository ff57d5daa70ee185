"""A process holding a private network and mount namespace (tmpfs /run); commands run inside.

Shared by the integration tests: nothing they do reaches the machine's own network or /run.
"""

from __future__ import annotations

import subprocess

import pytest


class Sandbox:
    def __init__(self, lifetime: int = 600) -> None:
        self.holder = subprocess.Popen(
            [
                "unshare", "--net", "--mount", "--propagation", "private", "--",
                "sh", "-c",
                "mount -t tmpfs -o mode=0755 calico-sandbox /run && ip link set lo up "
                f"&& echo ready && exec sleep {lifetime}",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        if self.holder.stdout is None or self.holder.stdout.readline().strip() != "ready":
            self.close()
            pytest.fail("could not start the unshare sandbox", pytrace=False)

    def close(self) -> None:
        # The namespaces die with the last process in them: this one.
        self.holder.kill()
        self.holder.wait(timeout=10)

    def run(self, *args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
        command = ["nsenter", "-t", str(self.holder.pid), "--net", "--mount", "--", *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, **kwargs)
        if check and result.returncode != 0:
            pytest.fail(f"{' '.join(args)} failed ({result.returncode}): {result.stderr}")
        return result
