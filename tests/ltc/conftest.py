import sys
from pathlib import Path

# the helpers in ltc_helpers.py are imported as a plain module by the tests here
sys.path.insert(0, str(Path(__file__).parent))
