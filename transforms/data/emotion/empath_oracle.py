#!/usr/bin/env python3
"""Empath oracle for the emotion tests (needs the `empath` package, 0.89).

Reads one JSON list of lower-case words per line on stdin and prints, per line, the index and
the counts of the 26 emotion categories (in the order of `CATEGORIES` in src/emotion.rs) that
Empath's `analyze(..., tokenizer="bigrams")` gives for those words joined by spaces.
"""
import json
import sys

from empath import Empath

CATEGORIES = [
    "joy", "anger", "fear", "sadness", "surprise", "disgust", "trust", "anticipation", "love",
    "hate", "rage", "envy", "shame", "pride", "nervousness", "optimism", "affection",
    "contentment", "cheerfulness", "disappointment", "sympathy", "horror", "confusion",
    "suffering", "positive_emotion", "negative_emotion",
]


def main():
    lexicon = Empath()
    out = []
    for i, line in enumerate(sys.stdin.buffer.read().decode("utf-8").splitlines()):
        words = json.loads(line)
        if words:  # Empath's bigram tokenizer fails on an empty document
            counts = lexicon.analyze(" ".join(words), categories=CATEGORIES, tokenizer="bigrams")
            row = [int(counts[c]) for c in CATEGORIES]
        else:
            row = [0] * len(CATEGORIES)
        out.append(f"{i}\t" + "\t".join(map(str, row)) + "\n")
    sys.stdout.writelines(out)


if __name__ == "__main__":
    main()
