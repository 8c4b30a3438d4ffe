#!/usr/bin/env python3
"""VADER oracle for the sentiment tests (needs vaderSentiment==3.3.2).

    gen_golden.py            rewrite vader_golden.tsv (every corpus row) and vader_cases.tsv
                             (the hand-picked texts in vader_cases.json), next to this script
    gen_golden.py --stdin    read one JSON string per line, print one score line per text

Score lines are `index<TAB>compound<TAB>pos<TAB>neu<TAB>neg`, with Python's repr of the floats.
"""
import json
import os
import sys

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "..", "..", "tests", "fixtures", "real_posts.jsonl")


def score_lines(texts):
    analyzer = SentimentIntensityAnalyzer()
    for i, text in enumerate(texts):
        s = analyzer.polarity_scores(text)
        yield f"{i}\t{s['compound']!r}\t{s['pos']!r}\t{s['neu']!r}\t{s['neg']!r}\n"


def write(path, texts):
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        out.writelines(score_lines(texts))


def main():
    if sys.argv[1:] == ["--stdin"]:
        texts = (json.loads(line) for line in sys.stdin.buffer.read().decode("utf-8").splitlines())
        sys.stdout.writelines(score_lines(texts))
        return
    with open(CORPUS, encoding="utf-8") as f:
        corpus = [json.loads(line).get("text") or "" for line in f]
    write(os.path.join(HERE, "vader_golden.tsv"), corpus)
    with open(os.path.join(HERE, "vader_cases.json"), encoding="utf-8") as f:
        cases = json.load(f)
    write(os.path.join(HERE, "vader_cases.tsv"), cases)


if __name__ == "__main__":
    main()
