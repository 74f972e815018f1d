#!/usr/bin/env python3
"""Run the seeded fault campaign (tinydeploy/fuzz.py) and print its counts.

    python scripts/fuzz_campaign.py [--count 500] [--seed 0] [--json FILE] MODEL.tflite...

Without models it uses the reference models in ../shared/models beside the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from tinydeploy.fuzz import run_campaign  # noqa: E402
from tinydeploy.paths import SHARED_MODELS  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*", type=Path)
    ap.add_argument("--count", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    paths = args.models or sorted(SHARED_MODELS.glob("*/*.tflite"))
    if not paths:
        print(f"error: no models given and none in {SHARED_MODELS}", file=sys.stderr)
        return 2
    sources = {p.stem: p.read_bytes() for p in paths}
    result = run_campaign(sources, args.count, args.seed)
    print(f"{args.count} mutants of {', '.join(sorted(sources))} (seed {args.seed}):")
    for k, v in sorted(result.counts.items()):
        print(f"  {k:<36} {v}")
    for what, items in (("crash", result.crashes), ("finding", result.findings),
                        ("mismatch", result.mismatches)):
        for item in items[:10]:
            print(f"\n{what}: {item}")
    if args.json:
        args.json.write_text(json.dumps({"counts": dict(result.counts), "crashes": result.crashes,
                                         "findings": result.findings,
                                         "mismatches": result.mismatches}, indent=2))
    return 0 if not (result.crashes or result.findings or result.mismatches) else 1


if __name__ == "__main__":
    sys.exit(main())
