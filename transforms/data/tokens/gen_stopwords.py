"""Regenerates stopwords/<iso-639-1>.txt (one lower-case word per line, sorted) for every
language rust-stemmers has a Snowball stemmer for.

Sources (see README.md for licences):
  * the Snowball project's stop lists, as Apache Lucene ships them in
    lucene-analysis-common 9.12.1 (org/apache/lucene/analysis/snowball/*_stop.txt);
  * Lucene's own lists for Arabic, Romanian (Jacques Savoy), Greek and Turkish;
  * spaCy 3.8.7's Tamil list (spacy/lang/ta/stop_words.py).

    mvn dependency:get -Dartifact=org.apache.lucene:lucene-analysis-common:9.12.1 -Dtransitive=false
    pip download --no-deps spacy==3.8.7
    python3 transforms/data/tokens/gen_stopwords.py LUCENE_JAR SPACY_WHEEL
"""

import ast
import os
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "stopwords")

SNOWBALL = {
    "da": "danish", "nl": "dutch", "en": "english", "fi": "finnish", "fr": "french",
    "de": "german", "hu": "hungarian", "it": "italian", "no": "norwegian",
    "pt": "portuguese", "ru": "russian", "es": "spanish", "sv": "swedish",
}
LUCENE_PLAIN = ["ar", "el", "ro", "tr"]


def snowball_words(text):
    # Snowball format: a word at the start of a line, comments after '|'.
    for line in text.splitlines():
        yield from line.split("|", 1)[0].split()


def plain_words(text):
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            yield line


def spacy_words(source):
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) > 50:
            yield from node.value.split()


def write(code, words):
    words = sorted({w.lower() for w in words})
    with open(os.path.join(OUT, f"{code}.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(words) + "\n")
    print(f"{code}: {len(words)}", file=sys.stderr)


def main(jar, wheel):
    os.makedirs(OUT, exist_ok=True)
    with zipfile.ZipFile(jar) as z:
        for code, name in SNOWBALL.items():
            text = z.read(f"org/apache/lucene/analysis/snowball/{name}_stop.txt").decode("utf-8")
            write(code, snowball_words(text))
        for code in LUCENE_PLAIN:
            text = z.read(f"org/apache/lucene/analysis/{code}/stopwords.txt").decode("utf-8")
            write(code, plain_words(text))
    with zipfile.ZipFile(wheel) as z:
        write("ta", spacy_words(z.read("spacy/lang/ta/stop_words.py").decode("utf-8")))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
