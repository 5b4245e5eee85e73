"""The recipe tests reuse the dataset fixture writers of tests/datasets/dataset_formats.py."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "datasets"))
