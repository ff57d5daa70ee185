"""Make the lab's modules importable: lab/ is a directory of scripts, not a package."""

import sys
from pathlib import Path

LAB_DIR = Path(__file__).resolve().parents[3] / "lab"
if str(LAB_DIR) not in sys.path:
    sys.path.insert(0, str(LAB_DIR))
