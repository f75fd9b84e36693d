"""Where the tests find the project and their data, from any test folder."""

from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
DATA = TESTS / "data"
REAL = DATA / "real"
BENCHMARKS = ROOT / "benchmarks"
