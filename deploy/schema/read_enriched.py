#!/usr/bin/env python3
"""Decode compact enriched records with fastavro and the committed schema file, nothing else.

A downstream consumer's view of `mentions.enriched` (enriched_format = "avro"): every message is
an Avro single-object encoding -- the bytes C3 01, the schema's 8-byte little-endian CRC-64-AVRO
fingerprint, then the record body -- under deploy/schema/enriched.avsc.

Input on stdin: frames of a 4-byte big-endian length followed by that many bytes, as
`kcat -C -f '%R%s'` prints a topic's messages. Output: one JSON line per record, with
timestamps as microseconds since the epoch. Exits non-zero on a record it cannot decode.

    kcat -C -b 127.0.0.1:9092 -t mentions.enriched -e -f '%R%s' \\
      | python3 deploy/schema/read_enriched.py deploy/schema/enriched.avsc
"""

import datetime
import io
import json
import struct
import sys

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def micros(value):
    if isinstance(value, datetime.datetime):
        return (value - EPOCH) // datetime.timedelta(microseconds=1)
    raise TypeError(f"not JSON: {value!r}")


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        schema = fastavro.parse_schema(json.load(f))
    expected = bytes.fromhex(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"))
    data = sys.stdin.buffer.read()
    at, count = 0, 0
    while at < len(data):
        (length,) = struct.unpack_from(">i", data, at)
        at += 4
        if length < 0:  # a tombstone (deleted mention): no record
            continue
        message = data[at : at + length]
        at += length
        if message[:2] != b"\xc3\x01":
            sys.exit(f"record {count}: no single-object marker")
        # Little-endian, as the specification writes it and as fastavro gives its hex.
        if message[2:10] != expected:
            sys.exit(f"record {count}: written with another schema ({message[2:10].hex()})")
        body = io.BytesIO(message[10:])
        record = fastavro.schemaless_reader(body, schema, schema)
        if body.read():
            sys.exit(f"record {count}: bytes after the record")
        print(json.dumps(record, default=micros, ensure_ascii=False))
        count += 1
    print(f"{count} records decoded", file=sys.stderr)


if __name__ == "__main__":
    main()
