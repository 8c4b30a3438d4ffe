"""textstat 0.7.8 as the readability oracle.

    python3 transforms/data/readability/gen_golden.py            # rewrite golden.jsonl
    python3 transforms/data/readability/gen_golden.py --all      # every corpus row, to stdout

golden.jsonl holds every 4th row of tests/fixtures/real_posts.jsonl plus a few awkward texts; the
live test in transforms/src/readability/tests.rs runs `--all` to compare the whole corpus.
Each line: {"row": i, "v": [...]} or {"text": t, "v": [...]}, values in METRICS order.
"""

import json
import os
import sys

import textstat

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "..", "..", "tests", "fixtures", "real_posts.jsonl")
MAX_TEXT_BYTES = 16 * 1024  # transforms::analysis::MAX_TEXT_BYTES

METRICS = [
    ("flesch_reading_ease", textstat.flesch_reading_ease),
    ("flesch_kincaid_grade", textstat.flesch_kincaid_grade),
    ("smog_index", textstat.smog_index),
    ("coleman_liau_index", textstat.coleman_liau_index),
    ("automated_readability_index", textstat.automated_readability_index),
    ("gunning_fog", textstat.gunning_fog),
    ("dale_chall_score", textstat.dale_chall_readability_score),
    ("dale_chall_score_v2", textstat.dale_chall_readability_score_v2),
    ("linsear_write_formula", textstat.linsear_write_formula),
    ("spache_readability", textstat.spache_readability),
    ("lix", textstat.lix),
    ("rix", textstat.rix),
    ("mcalpine_eflaw", textstat.mcalpine_eflaw),
    ("gulpease_index", textstat.gulpease_index),
    ("text_standard_grade", lambda t: textstat.text_standard(t, float_output=True)),
    ("reading_time_seconds", textstat.reading_time),
    ("syllable_count", textstat.syllable_count),
    ("lexicon_count", textstat.lexicon_count),
    ("sentence_count", textstat.sentence_count),
    ("polysyllable_count", textstat.polysyllabcount),
    ("monosyllable_count", textstat.monosyllabcount),
    ("difficult_words", textstat.difficult_words),
    ("long_word_count", textstat.long_word_count),
    ("miniword_count", textstat.miniword_count),
    ("letter_count", textstat.letter_count),
    ("avg_syllables_per_word", textstat.avg_syllables_per_word),
    ("avg_letters_per_word", textstat.avg_letter_per_word),
    ("avg_chars_per_word", textstat.avg_character_per_word),
    ("words_per_sentence", textstat.words_per_sentence),
]

EXTRA = [
    "",
    "   \n\t ",
    "🙂🙂🙂",
    "12345 678",
    "ÁÉÍ\u0301\u0301",
    "\u202eمرحبا بالعالم\u202c hello",
    "東京は今日もいい天気です。",
    "a\u0000b\u0007c",
    "\u0300\u0301",
    "!!! ??? ...",
    "Don't you think it's odd? I'd say they're 'quoted' -- and O'Neil's rock'n'roll isn't.",
    "Hmm. Shh! Psst... The ubiquitous, incomprehensible bureaucracy procrastinated indefinitely.",
    "one two three four five six seven eight nine ten. " * 15,
    "ＡＢＣ full-width, naïve café, Straße, İstanbul, ΣΊΣΥΦΟΣ.",
]


def cap(text):
    b = text.encode("utf-8")
    if len(b) <= MAX_TEXT_BYTES:
        return text
    return b[:MAX_TEXT_BYTES].decode("utf-8", errors="ignore")


def values(text):
    return [m(text) for _, m in METRICS]


def rows():
    with open(CORPUS, encoding="utf-8") as f:
        for i, line in enumerate(f):
            yield i, cap(json.loads(line)["text"])


def main():
    if "--all" in sys.argv:
        out = sys.stdout
        for i, t in rows():
            out.write(json.dumps({"row": i, "v": values(t)}) + "\n")
        return
    with open(os.path.join(HERE, "golden.jsonl"), "w", encoding="utf-8") as out:
        for i, t in rows():
            if i % 4 == 0:
                out.write(json.dumps({"row": i, "v": values(t)}) + "\n")
        for t in EXTRA:
            out.write(json.dumps({"text": t, "v": values(t)}, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
