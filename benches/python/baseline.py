"""What a data scientist would write to enrich social posts in Python, timed on one thread.

The Python side of `benches/compare-python`: the same real posts the Rust catalogue is timed on
(transforms/tests/fixtures/real_posts.jsonl), each turned into a dict of features with the
usual libraries, the way a notebook would do it:

- vaderSentiment 3.3.2 (SentimentIntensityAnalyzer.polarity_scores),
- langid 1.1.6 (langid.classify),
- PyStemmer (Snowball stems in the detected language, English when it has no stemmer),
- regexes for hashtags, @mentions, URLs, cashtags and emoji,
- textstat 0.7.8 for the readability formulas and counts the Rust readability group mirrors,
- basic text statistics (lengths, character-class ratios, punctuation, all-caps words).

It is a fair, idiomatic baseline, not a strawman: compiled regexes, one analyser and one stemmer
per language built once, no pandas overhead. One untimed warm-up pass over the first posts loads
the models. The rate is per CPU second of the main thread (time.thread_time), like the Rust side.

    python benches/python/baseline.py [--limit N] [--rate-only]
"""

import argparse
import json
import math
import pathlib
import re
import time
from collections import Counter

import langid
import Stemmer
import textstat
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

CORPUS = (
    pathlib.Path(__file__).resolve().parents[2]
    / "transforms"
    / "tests"
    / "fixtures"
    / "real_posts.jsonl"
)

HASHTAG = re.compile(r"(?<!\w)#(\w+)")
MENTION = re.compile(r"(?<!\w)@(\w{1,15})")
CASHTAG = re.compile(r"(?<!\w)\$([A-Za-z]{1,6})\b")
URL = re.compile(r"https?://[^\s<>\"]+|www\.[^\s<>\"]+")
EMOJI = re.compile(
    "[\U0001f300-\U0001faff\U00002600-\U000027bf\U0001f1e6-\U0001f1ff\u200d\ufe0f]+"
)
WORD = re.compile(r"\w+")
SENTENCE = re.compile(r"[^.!?]+[.!?]*")
ELONGATED = re.compile(r"(\w)\1\1")
REPEATED_PUNCT = re.compile(r"[!?]{2,}")

# langid code -> Snowball algorithm name (PyStemmer).
SNOWBALL = {
    "ar": "arabic", "da": "danish", "de": "german", "el": "greek", "en": "english",
    "es": "spanish", "fi": "finnish", "fr": "french", "hu": "hungarian", "it": "italian",
    "nl": "dutch", "no": "norwegian", "pt": "portuguese", "ro": "romanian", "ru": "russian",
    "sv": "swedish", "ta": "tamil", "tr": "turkish",
}

analyzer = SentimentIntensityAnalyzer()
stemmers = {code: Stemmer.Stemmer(name) for code, name in SNOWBALL.items()}


def ratio(a, b):
    return a / b if b else 0.0


def features(text):
    row = {}
    # Basic text statistics.
    n = len(text)
    letters = sum(c.isalpha() for c in text)
    upper = sum(c.isupper() for c in text)
    digits = sum(c.isdigit() for c in text)
    spaces = sum(c.isspace() for c in text)
    row["chars"] = n
    row["bytes"] = len(text.encode("utf-8"))
    row["lines"] = text.count("\n") + 1 if text else 0
    row["letter_ratio"] = ratio(letters, n)
    row["uppercase_ratio"] = ratio(upper, letters)
    row["digit_ratio"] = ratio(digits, n)
    row["whitespace_ratio"] = ratio(spaces, n)
    row["non_ascii_ratio"] = ratio(sum(ord(c) > 127 for c in text), n)
    row["exclamations"] = text.count("!")
    row["questions"] = text.count("?")
    row["repeated_punctuation"] = len(REPEATED_PUNCT.findall(text))
    row["ellipses"] = text.count("...") + text.count("\u2026")
    row["ends_with_question"] = text.rstrip().endswith("?")

    # Tokens, vocabulary, stems.
    tokens = WORD.findall(text.lower())
    counts = Counter(tokens)
    total = len(tokens)
    row["tokens"] = tokens
    row["words"] = total
    row["unique_tokens"] = len(counts)
    row["type_token_ratio"] = ratio(len(counts), total)
    row["hapax"] = sum(1 for c in counts.values() if c == 1)
    row["token_entropy"] = (
        -sum(c / total * math.log2(c / total) for c in counts.values()) if total else 0.0
    )
    row["longest_word"] = max(map(len, tokens), default=0)
    row["avg_word_length"] = ratio(sum(map(len, tokens)), total)
    raw_words = WORD.findall(text)
    row["allcaps_words"] = sum(1 for w in raw_words if len(w) > 1 and w.isupper())
    row["elongated_words"] = sum(1 for w in raw_words if ELONGATED.search(w))

    # Language.
    lang, score = langid.classify(text)
    row["lang"] = lang
    row["lang_score"] = score
    stemmer = stemmers.get(lang, stemmers["en"])
    stems = stemmer.stemWords(tokens)
    row["stems"] = stems
    row["unique_stems"] = len(set(stems))

    # Entities.
    row["hashtags"] = HASHTAG.findall(text)
    row["mentions"] = MENTION.findall(text)
    row["cashtags"] = CASHTAG.findall(text)
    row["urls"] = URL.findall(text)
    emoji = EMOJI.findall(text)
    row["emoji"] = emoji
    row["emoji_count"] = len(emoji)

    # Sentiment.
    row.update(analyzer.polarity_scores(text))

    # Readability (textstat 0.7.8).
    row["flesch_reading_ease"] = textstat.flesch_reading_ease(text)
    row["flesch_kincaid_grade"] = textstat.flesch_kincaid_grade(text)
    row["smog_index"] = textstat.smog_index(text)
    row["coleman_liau_index"] = textstat.coleman_liau_index(text)
    row["automated_readability_index"] = textstat.automated_readability_index(text)
    row["gunning_fog"] = textstat.gunning_fog(text)
    row["dale_chall"] = textstat.dale_chall_readability_score(text)
    row["linsear_write"] = textstat.linsear_write_formula(text)
    row["spache"] = textstat.spache_readability(text)
    row["lix"] = textstat.lix(text)
    row["rix"] = textstat.rix(text)
    row["mcalpine_eflaw"] = textstat.mcalpine_eflaw(text)
    row["text_standard"] = textstat.text_standard(text, float_output=True)
    row["reading_time"] = textstat.reading_time(text)
    row["syllable_count"] = textstat.syllable_count(text)
    row["lexicon_count"] = textstat.lexicon_count(text)
    row["sentence_count"] = textstat.sentence_count(text)
    row["difficult_words"] = textstat.difficult_words(text)
    row["polysyllables"] = textstat.polysyllabcount(text)
    row["monosyllables"] = textstat.monosyllabcount(text)
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=0, help="only the first N posts (0: all)")
    ap.add_argument("--rate-only", action="store_true", help="print only mentions/s")
    args = ap.parse_args()

    with open(CORPUS, encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f]
    if args.limit:
        texts = texts[: args.limit]

    for t in texts[:200]:  # warm-up: loads langid's model, vader's lexicon, textstat's lists
        features(t)

    wall0, cpu0 = time.perf_counter(), time.thread_time()
    rows = [features(t) for t in texts]
    cpu, wall = time.thread_time() - cpu0, time.perf_counter() - wall0
    assert len(rows) == len(texts)
    rate = len(texts) / cpu
    if args.rate_only:
        print(f"{rate:.1f}")
    else:
        print(
            f"python ({len(texts)} real posts, {len(rows[0])} features, 1 thread): "
            f"{rate:.0f} mentions/s per CPU second ({1e6 / rate:.0f} µs/mention), "
            f"{len(texts) / wall:.0f} mentions/s wall"
        )


if __name__ == "__main__":
    main()
