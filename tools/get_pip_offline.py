"""Stand-in for ansible-test's pip bootstrap script, which it downloads from a CI host.

ansible-test creates a virtualenv without pip for each sanity test and runs this script with
pip's install arguments (``pip==X`` and friends). The Python standard library already carries
pip (``ensurepip``), so the download is not needed: bootstrap from it, then let that pip
install the pinned versions ansible-test asked for. ``make sanity`` copies this file to where
ansible-test looks for its cached copy.
"""

import ensurepip
import os
import subprocess
import sys

# get-pip's own switches (skip setuptools, skip wheel) are no pip options: ensurepip brings
# pip alone anyway.
OWN_SWITCHES = {"--no-setuptools", "--no-wheel"}

before = os.environ.get("PIP_CONFIG_FILE")
ensurepip.bootstrap(upgrade=True)
# ensurepip points PIP_CONFIG_FILE at /dev/null for itself; the install below needs the
# machine's pip configuration (index, certificates) again.
os.environ.pop("PIP_CONFIG_FILE", None)
if before is not None:
    os.environ["PIP_CONFIG_FILE"] = before
arguments = [arg for arg in sys.argv[1:] if arg not in OWN_SWITCHES]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", "--quiet", *arguments]))
