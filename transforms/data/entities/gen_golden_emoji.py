#!/usr/bin/env python3
"""Oracle for the emoji tests: the `emoji` package (PyPI, BSD) over the real-post corpus.

Writes one JSON line per corpus row with any emoji: {"i": row, "emojis": [...]}, from
emoji.emoji_list (longest match over Unicode's emoji sequences).
Usage: python3 gen_golden_emoji.py [corpus.jsonl] > golden_emoji.jsonl   (pip install emoji==2.16.0)
"""
import json
import os
import sys

import emoji

HERE = os.path.dirname(os.path.abspath(__file__))
corpus = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    HERE, "..", "..", "tests", "fixtures", "real_posts.jsonl")
with open(corpus, encoding="utf-8") as f:
    for i, line in enumerate(f):
        text = json.loads(line).get("text") or ""
        found = [e["emoji"] for e in emoji.emoji_list(text)]
        if found:
            print(json.dumps({"i": i, "emojis": found}, ensure_ascii=False))
