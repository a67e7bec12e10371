"""Merge the new question files into dev and test (run once; kept to show how).

    python eval/split.py eval/new/part*.jsonl

Appends ~40% of the new questions to eval/dev.jsonl and writes the rest to
eval/test.jsonl, stratified by (answerable, category, style) with a fixed seed.
"""

import json
import random
import sys
from collections import defaultdict
from pathlib import Path

SOURCE_FILE = "000_b98d99b2d30ef9a5.txt"
DEV_SHARE = 0.4
SEED = 20261130


def main(paths: list[str]) -> None:
    dev_path, test_path = Path("eval/dev.jsonl"), Path("eval/test.jsonl")
    dev = [json.loads(line) for line in dev_path.read_text().splitlines() if line.strip()]
    new = [json.loads(line) for p in paths for line in Path(p).read_text().splitlines() if line]
    for item in dev + new:
        item.setdefault("source_file", SOURCE_FILE)
        item.setdefault("unanswerable_kind", None)
    strata = defaultdict(list)
    for item in new:
        strata[(item["answerable"], item["category"], item["style"])].append(item)
    rng = random.Random(SEED)
    to_dev, to_test = [], []
    carry = 0.0
    for key in sorted(strata, key=str):
        group = strata[key]
        rng.shuffle(group)
        carry += DEV_SHARE * len(group)
        take = int(carry)
        carry -= take
        to_dev += group[:take]
        to_test += group[take:]
    write = lambda path, items: path.write_text(  # noqa: E731
        "".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8"
    )
    write(dev_path, dev + sorted(to_dev, key=lambda i: i["id"]))
    write(test_path, sorted(to_test, key=lambda i: i["id"]))
    print(f"dev: {len(dev)} + {len(to_dev)}; test: {len(to_test)}")


if __name__ == "__main__":
    main(sys.argv[1:])
