"""Quantiles of the worker's collected->stored latency between two scrapes of its histogram.

Usage: histogram.py BEFORE AFTER, each the `..._bucket` lines of
backchannel_pipeline_collected_to_stored_seconds from /metrics. Prints one line for people and
one `p50_ms=… p99_ms=…` line for scripts. Quantiles interpolate linearly within a bucket, as
Prometheus's histogram_quantile does.
"""
import re
import sys


def load(path):
    out = {}
    for line in open(path):
        le = re.search(r'le="([^"]+)"', line).group(1)
        out[float("inf") if le == "+Inf" else float(le)] = float(line.split()[-1])
    return out


def main():
    h0, h1 = load(sys.argv[1]), load(sys.argv[2])
    buckets = sorted((k, h1[k] - h0.get(k, 0)) for k in h1)
    total = buckets[-1][1]

    def q(p):
        want, prev_le, prev_c = p * total, 0.0, 0.0
        for le, c in buckets:
            if c >= want:
                if le == float("inf"):
                    return float("inf")
                return prev_le + (le - prev_le) * (want - prev_c) / max(c - prev_c, 1e-9)
            prev_le, prev_c = le, c
        return float("nan")

    p50, p99 = q(0.5) * 1000, q(0.99) * 1000
    print(f"{total:,.0f} mentions; collected->stored p50 {p50:.0f} ms, p99 {p99:.0f} ms (histogram interpolation)")
    print(f"p50_ms={p50:.1f} p99_ms={p99:.1f}")


if __name__ == "__main__":
    main()
