"""benches/e2e's rounds: reads the lines its rounds append and prints a round or the medians.

Usage: e2e_rounds.py ROUNDS_FILE CLK_TCK TRANSFORM_RATE last|summary

Each round appends `pipeline N S0 T0 T1 W0 W1 C0 C1 K0 K1 R0 R1 Q0 Q1 B0 B1 P0 P1` (mentions,
stored before the clock started, start and end times, then the CPU ticks of the worker,
Cassandra, Kafka and Redis, the statements, the bytes bound and the worker's seconds of CPU
processing batches, each before and after) and
`raw RATE CASSANDRA_TICKS`. `last` prints the latest round; `summary` the medians over all
rounds, and writes the median rate to /tmp/bench-e2e-rate for the latency step.
"""
import statistics
import sys


def rounds(path, hz):
    lines = open(path).read().split("\n")
    pipelines = [[float(x) for x in l.split()[1:]] for l in lines if l.startswith("pipeline ")]
    raws = [[float(x) for x in l.split()[1:]] for l in lines if l.startswith("raw ")]
    out = []
    for p, (raw_rate, raw_ticks) in zip(pipelines, raws):
        n, stored, wall = p[0], p[0] - p[1], p[3] - p[2]
        worker, cassandra, kafka, redis = ((p[i + 1] - p[i]) / hz for i in (4, 6, 8, 10))
        us = lambda seconds: seconds / stored * 1e6
        out.append({
            "rate": stored / wall,
            "wall": wall,
            "worker_us": us(worker),
            "cassandra_us": us(cassandra),
            "cassandra_cores": cassandra / wall,
            "kafka_us": us(kafka),
            "redis_us": us(redis),
            "raw": raw_rate,
            "share": stored / wall / raw_rate * 100,
            "raw_cassandra_us": raw_ticks / hz / n * 1e6,
            "statements": (p[13] - p[12]) / stored,
            "bound": (p[15] - p[14]) / stored,
            "process_us": us(p[17] - p[16]),
        })
    return out


def main():
    path, hz, alone, mode = sys.argv[1], int(sys.argv[2]), 1e6 / float(sys.argv[3]), sys.argv[4]
    all_rounds = rounds(path, hz)
    if mode == "last":
        r = all_rounds[-1]
        print(f"round {len(all_rounds)}: the pipeline {r['rate']:,.0f} mentions/s over {r['wall']:.1f} s, "
              f"{r['share']:.0f}% of the raw store's {r['raw']:,.0f}; worker CPU {r['worker_us']:.1f} us a mention "
              f"({r['worker_us'] / alone:.2f}x the transforms alone, {alone:.1f} us; of it processing batches "
              f"{r['process_us']:.1f} us, {r['process_us'] / alone:.2f}x the transforms alone, and the rest "
              f"{r['worker_us'] - r['process_us']:.1f} us); the services' CPU a mention: "
              f"Cassandra {r['cassandra_us']:.1f} us ({r['cassandra_cores'] * 100:.0f}% of one core), "
              f"Kafka {r['kafka_us']:.1f} us, Redis {r['redis_us']:.1f} us; "
              f"Cassandra under the raw store {r['raw_cassandra_us']:.1f} us a mention (with its set-up)")
        return
    med = statistics.median
    col = lambda k: [r[k] for r in all_rounds]
    rates, per, shares, raws = col("rate"), col("worker_us"), col("share"), col("raw")
    print(f"sustained: median {med(rates):,.0f} mentions/s ({min(rates):,.0f}-{max(rates):,.0f}) over {len(rates)} rounds")
    print(f"worker CPU per mention: median {med(per):.1f} us ({min(per):.1f}-{max(per):.1f}); the transforms alone "
          f"{alone:.1f} us: {med(per) / alone:.2f}x (goal <= 2x)")
    proc_us = col("process_us")
    rest = [r["worker_us"] - r["process_us"] for r in all_rounds]
    print(f"  of it processing batches (decoding, transforms, encoding): median {med(proc_us):.1f} us "
          f"({med(proc_us) / alone:.2f}x the transforms alone); the rest (Kafka, CQL, Redis, the runtime): "
          f"median {med(rest):.1f} us ({med(rest) / med(proc_us):.2f}x the processing)")
    print(f"CQL writes per mention: {med(col('statements')):.2f} requests (one unlogged batch per partition's rows), "
          f"{med(col('bound')):,.0f} bytes bound")
    print(f"the pipeline stores a median {med(shares):.0f}% of the raw store's rate ({min(shares):.0f}-{max(shares):.0f}% "
          f"by round; the raw store {med(raws):,.0f} mentions/s, {min(raws):,.0f}-{max(raws):,.0f}) (goal >= 60%)")
    with open("/tmp/bench-e2e-rate", "w") as f:
        f.write(str(int(med(rates))))


main()
