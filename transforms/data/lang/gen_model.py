#!/usr/bin/env python3
"""Writes `langid_subset.bin`, the byte n-gram naive Bayes tables the Rust detector loads.

Source: the model embedded in langid.py 1.1.6 (`pip install langid==1.1.6`), BSD-2-Clause,
Copyright 2011 Marco Lui (see README.md). We keep only the languages of the script groups that
need a statistical decision (Latin, Cyrillic, Arabic, Devanagari) and only the features that can
occur in the detector's cleaned input for that group (letters, apostrophes, hyphens, spaces); weights are quantised to i16.

Format (little-endian):
  b"BCLID1\\n", u8 group count, then per group:
    u8 name len, name, u8 language count, per language: u8 len, ISO code,
    i16 prior per language, u16 feature count,
    per feature: u8 len (1..4), the bytes, i16 weight per language.
Weights are natural-log probabilities times SCALE.
"""
import base64, bz2, pickle, struct, sys
from collections import deque

import langid.langid as L

SCALE = 256
GROUPS = {
    "Latn": ["en", "es", "de", "fr", "pt", "it", "nl", "pl", "tr", "vi", "id", "cs", "sv", "hu",
             "ro", "da", "fi", "no", "ms", "ca", "sk", "hr", "sl", "et", "lv", "lt", "tl", "sw",
             "af", "eu", "gl", "sq", "cy", "ga", "is", "az", "mt"],
    "Cyrl": ["ru", "uk", "bg", "sr", "mk", "be", "kk", "ky", "mn"],
    "Arab": ["ar", "fa", "ur", "ps"],
    "Deva": ["hi", "mr", "ne"],
}
# langid.py calls Norwegian Bokmål `nb`; we report the macrolanguage `no`.
MODEL_CODE = {"no": "nb"}


def allowed(group):
    common = {0x20, ord("'"), ord("-")} | set(range(0x80, 0xC0))
    if group == "Latn":
        return common | set(range(ord("a"), ord("z") + 1)) | set(range(ord("A"), ord("Z") + 1)) | set(range(0xC3, 0xCA)) | {0xCC, 0xCD, 0xE1}
    if group == "Cyrl":
        return common | set(range(0xD0, 0xD5)) | {0xCC, 0xCD}
    if group == "Arab":
        return common | set(range(0xD8, 0xDC)) | {0xE2}
    if group == "Deva":
        return common | {0xE0}
    raise ValueError(group)


def load():
    model = pickle.loads(bz2.decompress(base64.b64decode(L.model)))
    ptc, pc, classes, nextmove, output = model
    nfeat = len(ptc) // len(pc)
    # The model's features are the patterns of an Aho-Corasick automaton; the shortest path to
    # the state where a feature is first emitted spells the feature.
    path = {0: b""}
    queue = deque([0])
    while queue:
        s = queue.popleft()
        for c in range(256):
            t = nextmove[(s << 8) + c]
            if t not in path:
                path[t] = path[s] + bytes([c])
                queue.append(t)
    feats = {}
    for s, idxs in output.items():
        for f in idxs:
            if f not in feats or len(path[s]) < len(feats[f]):
                feats[f] = path[s]
    assert len(feats) == nfeat
    return ptc, pc, classes, feats, nfeat


def q(x):
    v = int(round(x * SCALE))
    assert -32768 <= v <= 32767, x
    return v


def main(out_path):
    ptc, pc, classes, feats, nfeat = load()
    ncls = len(classes)
    out = bytearray(b"BCLID1\n")
    out += struct.pack("<B", len(GROUPS))
    for group, langs in GROUPS.items():
        cols = [classes.index(MODEL_CODE.get(l, l)) for l in langs]
        ok = allowed(group)
        keep = [f for f in range(nfeat)
                if all(b in ok for b in feats[f]) and not feats[f].isspace()
                and any(b >= 0x80 or chr(b).isalpha() for b in feats[f])]
        out += struct.pack("<B", len(group)) + group.encode()
        out += struct.pack("<B", len(langs))
        for l in langs:
            out += struct.pack("<B", len(l)) + l.encode()
        out += struct.pack(f"<{len(cols)}h", *[q(pc[c]) for c in cols])
        out += struct.pack("<H", len(keep))
        for f in keep:
            out += struct.pack("<B", len(feats[f])) + feats[f]
            out += struct.pack(f"<{len(cols)}h", *[q(ptc[f * ncls + c]) for c in cols])
        print(f"{group}: {len(langs)} languages, {len(keep)} features", file=sys.stderr)
    with open(out_path, "wb") as fh:
        fh.write(out)
    print(f"wrote {len(out)} bytes to {out_path}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "langid_subset.bin")
