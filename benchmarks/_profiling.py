"""Shared pieces of the training benchmarks: matmul reference rates, torch.profiler breakdown tables, peak memory.

Every rate is measured in the benchmark's own process, right beside the step, and reported as the best of several
repeats: on a shared machine the minimum is the least disturbed number, and ratios measured in one process (step
FLOP rate / matmul rate) survive other load far better than absolute times.
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable

import torch
from torch.profiler import ProfilerActivity, profile

# The ranges the models and the benchmark steps open with ``record_function`` (parent -> children, in table order).
PARTS: dict[str, tuple[str, ...]] = {
    "data": (),
    "forward": ("point.fps", "point.ball_query", "point.group", "point.tube_mlp", "point.transformer",
                "image.cnn", "image.transformer", "heads", "task_head"),
    "loss": (),
    "backward": (),
    "optimizer": (),
}


def profile_breakdown(step: Callable[[int], None], steps: int, start: int = 0,
                      top: int = 0) -> tuple[dict[str, float], float]:
    """Run ``steps`` profiled steps; returns (ms per step of every ``record_function`` range, total ms per step).

    ``top > 0`` also prints the ``top`` ops by self CPU time (where the remaining time goes).
    """
    names = {n for parent, children in PARTS.items() for n in (parent, *children)}
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        tick = time.perf_counter()
        for i in range(start, start + steps):
            step(i)
        total = (time.perf_counter() - tick) / steps * 1e3
    if top:
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=top, max_name_column_width=40))
    per_step = {n: 0.0 for n in names}
    for event in prof.events():
        if event.name in names:
            per_step[event.name] += event.cpu_time_total / 1e3 / steps  # µs -> ms
    return per_step, total


def breakdown_table(per_step: dict[str, float], total_ms: float) -> str:
    """A text table: every part and sub-part with ms per step and share of the (profiled) step."""
    lines = [f"{'part':<24}{'ms/step':>10}{'share':>9}", "-" * 43]
    accounted = 0.0
    for parent, children in PARTS.items():
        ms = per_step.get(parent, 0.0)
        accounted += ms
        lines.append(f"{parent:<24}{ms:>10.1f}{ms / total_ms:>9.1%}")
        inner = 0.0
        for child in children:
            if per_step.get(child, 0.0) > 0:
                inner += per_step[child]
                lines.append(f"  {child:<22}{per_step[child]:>10.1f}{per_step[child] / total_ms:>9.1%}")
        if children and ms > 0:
            lines.append(f"  {'(rest of ' + parent + ')':<22}{ms - inner:>10.1f}{(ms - inner) / total_ms:>9.1%}")
    lines.append(f"{'(outside the parts)':<24}{total_ms - accounted:>10.1f}{(total_ms - accounted) / total_ms:>9.1%}")
    lines.append(f"{'step (profiled)':<24}{total_ms:>10.1f}{1:>9.1%}")
    return "\n".join(lines)


def step_flops(step: Callable[[int], None], i: int = 0) -> int:
    """FLOPs of one call of ``step`` (matmuls, convolutions, attention: what FlopCounterMode counts)."""
    from torch.utils.flop_counter import FlopCounterMode  # noqa: PLC0415

    counter = FlopCounterMode(display=False)
    with counter:
        step(i)
    return counter.get_total_flops()


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every training benchmark takes."""
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (each: matmuls, then one step per variant)")
    parser.add_argument("--profile-steps", type=int, default=2)
    parser.add_argument("--amp", default="off", help="auto | bf16 | off (the loop's amp parameter)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model (the loop's compile flag)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--top", type=int, default=0, help="also print the N most expensive ops (self CPU time)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a model key, e.g. --set point.tube_chunk_rows=0 (value parsed as YAML)")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu",
                        help="cpu: CPU seconds of this process (robust to other load; best with --threads 1), "
                             "wall: elapsed seconds")
    parser.add_argument("--compare", action="store_true",
                        help="also run the pre-optimisation step (fp32, unchunked tube MLP) interleaved with this one")


CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}


def _matmul_seconds(dtype: torch.dtype, clock: Callable[[], float], size: int = 1024) -> float:
    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    tick = clock()
    a @ b
    return clock() - tick


def report_variants(builders: dict[str, Callable[[], tuple[Callable[[int], None], object]]], args, clips: int) -> None:
    """Build every variant's step, time them interleaved with matmuls (best of ``args.rounds``), profile, print.

    Interleaving makes the ratios fair on a shared machine: every round measures the matmul rates and each
    variant's step within a few seconds of each other, and each is reported by its best round.
    """
    clock = CLOCKS[args.clock]
    steps, first = {}, {}
    for name, build in builders.items():
        tick = time.perf_counter()
        step, dtype = build()
        step(0)
        first[name] = time.perf_counter() - tick
        steps[name] = step
    for dtype in (torch.float32, torch.bfloat16):
        _matmul_seconds(dtype, clock)
    best = {name: float("inf") for name in steps}
    mm = {"float32": float("inf"), "bfloat16": float("inf")}
    for r in range(1, args.rounds + 1):
        for key, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
            mm[key] = min(mm[key], *(_matmul_seconds(dtype, clock) for _ in range(3)))
        for name, step in steps.items():
            tick = clock()
            step(r)
            best[name] = min(best[name], clock() - tick)
    rates = {key: 2 * 1024**3 / seconds for key, seconds in mm.items()}
    flops = {name: step_flops(step, 500) for name, step in steps.items()}
    useful = min(flops.values())  # model FLOPs without checkpoint recomputation
    profiles = {name: profile_breakdown(step, args.profile_steps, start=100, top=args.top)
                for name, step in steps.items()}
    base = next(iter(best.values()))
    print(f"clock: {args.clock} ({'CPU seconds of this process' if args.clock == 'cpu' else 'elapsed seconds'}); "
          f"matmul 1024^3 (best of {3 * args.rounds}): " + ", ".join(f"{k} {v / 1e9:.0f} GFLOP/s"
                                                                     for k, v in rates.items()))
    print(f"model FLOPs per step: {useful / 1e9:.1f} G (counted without recomputation)")
    header = f"{'variant':<28}{'step ms':>9}{'items/s':>9}{'speed-up':>10}{'% fp32 mm':>11}{'% bf16 mm':>11}" \
             f"{'FPS+BQ':>8}{'1st step s':>11}"  # 1st step: wall
    print(header)
    print("-" * len(header))
    for name, seconds in best.items():
        per_step, total = profiles[name]
        nb = (per_step["point.fps"] + per_step["point.ball_query"]) / total
        print(f"{name:<28}{seconds * 1e3:>9.0f}{clips / seconds:>9.1f}{base / seconds:>9.2f}x"
              f"{useful / seconds / rates['float32']:>11.1%}{useful / seconds / rates['bfloat16']:>11.1%}"
              f"{nb:>8.1%}{first[name]:>11.1f}")
    print(f"peak resident memory of the process: {peak_rss_mib():.0f} MiB")
    for name, (per_step, total) in profiles.items():
        print(f"\nbreakdown, {name} (torch.profiler, {args.profile_steps} steps):")
        print(breakdown_table(per_step, total))
