#!/usr/bin/env python3
"""train_kd.py: another name for train_am.py, kept for the recipes and docs that call it.

Every option, output and check is train_am.py's (its KD options switch distillation
on); see ``steps_py/train_am.py --help``. Nothing is implemented here.
"""

import runpy
from pathlib import Path

if __name__ == "__main__":
    runpy.run_path(str(Path(__file__).with_name("train_am.py")), run_name="__main__")
