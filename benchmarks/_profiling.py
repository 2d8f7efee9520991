"""Shared pieces of the training benchmarks: matmul reference rates, torch.profiler breakdown tables, peak memory.

Every rate is measured in the benchmark's own process, right beside the step, and reported as the best of several
repeats: on a shared machine the minimum is the least disturbed number, and ratios measured in one process (step
FLOP rate / matmul rate) survive other load far better than absolute times.

``--device cuda`` runs the same steps on a GPU: the clock is then wall time with ``torch.cuda.synchronize()`` on
both ends, the matmul reference is 8192^3 (1024^3 leaves a GPU idle between launches), the breakdown reports the
span of every range on the GPU's timeline (gaps between its kernels included) and, below the step's wall time,
how long the GPU's kernels actually ran; the memory line adds the GPU's peak allocation.
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
                      top: int = 0, device: torch.device = torch.device("cpu")) -> tuple[dict[str, float], float]:
    """Run ``steps`` profiled steps; returns (ms per step of every ``record_function`` range, total ms per step).

    On CPU a range's time is its CPU time; on CUDA it is the range's span on the GPU's timeline (the host only
    queues kernels), and the total is the wall time per step, synchronised. ``top > 0`` also prints the ``top``
    ops by self CPU (CUDA: self device) time, i.e. where the remaining time goes.
    """
    names = {n for parent, children in PARTS.items() for n in (parent, *children)}
    cuda = device.type == "cuda"
    activities = [ProfilerActivity.CPU, ProfilerActivity.CUDA] if cuda else [ProfilerActivity.CPU]
    with profile(activities=activities) as prof:
        sync_device(device)
        tick = time.perf_counter()
        for i in range(start, start + steps):
            step(i)
        sync_device(device)
        total = (time.perf_counter() - tick) / steps * 1e3
    if top:
        sort = "self_device_time_total" if cuda else "self_cpu_time_total"
        print(prof.key_averages().table(sort_by=sort, row_limit=top, max_name_column_width=40))
    per_step = {n: 0.0 for n in names}
    for event in prof.events():
        if event.name in names:
            micros = event.device_time_total if cuda else event.cpu_time_total
            per_step[event.name] += micros / 1e3 / steps  # µs -> ms
    if cuda:
        # A range's device time is the span of its GPU-side annotation (first kernel to last, gaps included).
        # Backward's kernels are launched by autograd's device thread, outside the main thread's "backward"
        # range: its row is the rest of the step. The kernels' own time, without gaps, is "gpu_busy".
        per_step["backward"] = max(0.0, total - sum(per_step[p] for p in PARTS if p != "backward"))
        per_step["gpu_busy"] = sum(e.self_device_time_total for e in prof.key_averages()
                                   if e.key not in names) / 1e3 / steps
    return per_step, total


def sync_device(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA); nothing on CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def breakdown_table(per_step: dict[str, float], total_ms: float, gpu: bool = False) -> str:
    """A text table: every part and sub-part with ms per step and share of the (profiled) step.

    ``gpu``: the parts are spans on the GPU's timeline (backward: the rest of the step), and a last line gives the
    time its kernels actually ran (``per_step["gpu_busy"]``): the rest the GPU waited for the host to launch work.
    """
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
    if not gpu:
        rest = total_ms - accounted
        lines.append(f"{'(outside the parts)':<24}{rest:>10.1f}{rest / total_ms:>9.1%}")
    lines.append(f"{'step (profiled)':<24}{total_ms:>10.1f}{1:>9.1%}")
    if gpu:
        busy = per_step.get("gpu_busy", 0.0)
        lines.append(f"{'GPU kernels running':<24}{busy:>10.1f}{busy / total_ms:>9.1%}")
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


def memory_line(device: torch.device) -> str:
    """Peak memory: resident memory of the process, and on CUDA the GPU's peak allocation."""
    line = f"peak resident memory of the process: {peak_rss_mib():.0f} MiB"
    if device.type == "cuda":
        line += f"; peak GPU memory allocated: {torch.cuda.max_memory_allocated(device) / 2**20:.0f} MiB"
    return line


def bench_device(args: argparse.Namespace) -> torch.device:
    """The ``--device`` to run on; CUDA is refused with a clear message when there is none."""
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available")
    device = torch.device(args.device)
    if device.type == "cuda":
        args.clock = "wall"  # the CPU-time clock would count the host's waits, not the GPU's work
        print(f"device: {torch.cuda.get_device_name(device)}, torch {torch.__version__}, "
              f"CUDA {torch.version.cuda}")
    return device


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
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                        help="where the step runs (cuda: synchronised wall clock; ranges as spans of the GPU timeline)")
    parser.add_argument("--batch", type=int, default=None,
                        help="clips (windows) per step instead of the config's batch_size (a GPU wants more)")


CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}


def _matmul_seconds(dtype: torch.dtype, clock: Callable[[], float], device: torch.device, size: int) -> float:
    """Seconds of one size^3 matmul; ``clock`` synchronises the device (see :func:`report_variants`)."""
    a, b = (torch.randn(size, size, device=device).to(dtype) for _ in range(2))
    tick = clock()
    a @ b
    return clock() - tick


def report_variants(builders: dict[str, Callable[[], tuple[Callable[[int], None], object]]], args, clips: int,
                    device: torch.device = torch.device("cpu")) -> None:
    """Build every variant's step, time them interleaved with matmuls (best of ``args.rounds``), profile, print.

    Interleaving makes the ratios fair on a shared machine: every round measures the matmul rates and each
    variant's step within a few seconds of each other, and each is reported by its best round.
    """
    base_clock = CLOCKS[args.clock]

    def clock() -> float:
        sync_device(device)
        return base_clock()

    size = 8192 if device.type == "cuda" else 1024
    steps, first = {}, {}
    for name, build in builders.items():
        tick = time.perf_counter()
        step, dtype = build()
        step(0)
        sync_device(device)
        first[name] = time.perf_counter() - tick
        steps[name] = step
    for dtype in (torch.float32, torch.bfloat16):
        _matmul_seconds(dtype, clock, device, size)
    best = {name: float("inf") for name in steps}
    mm = {"float32": float("inf"), "bfloat16": float("inf")}
    for r in range(1, args.rounds + 1):
        for key, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
            mm[key] = min(mm[key], *(_matmul_seconds(dtype, clock, device, size) for _ in range(3)))
        for name, step in steps.items():
            tick = clock()
            step(r)
            best[name] = min(best[name], clock() - tick)
    rates = {key: 2 * size**3 / seconds for key, seconds in mm.items()}
    flops = {name: step_flops(step, 500) for name, step in steps.items()}
    useful = min(flops.values())  # model FLOPs without checkpoint recomputation
    profiles = {name: profile_breakdown(step, args.profile_steps, start=100, top=args.top, device=device)
                for name, step in steps.items()}
    base = next(iter(best.values()))
    print(f"clock: {args.clock} ({'CPU seconds of this process' if args.clock == 'cpu' else 'elapsed seconds'}); "
          f"matmul {size}^3 (best of {3 * args.rounds}): " + ", ".join(f"{k} {v / 1e9:.0f} GFLOP/s"
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
    print(memory_line(device))
    what = "ms of the GPU timeline in each range" if device.type == "cuda" else "CPU ms"
    for name, (per_step, total) in profiles.items():
        print(f"\nbreakdown, {name} (torch.profiler, {args.profile_steps} steps; {what}):")
        print(breakdown_table(per_step, total, gpu=device.type == "cuda"))
