import subprocess
import sys

import pytest

from prunelimit.bench.dag import by_stage, job_times, main, table
from prunelimit.usage import read_usage, usage_line

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def test_sums_benchmarks_by_stage(tmp_path, capsys):
    bench, logs = tmp_path / "benchmarks", tmp_path / "logs"
    for rel, s, rss, cpu in [
        ("train/mlp/seed0/l1", 20.5, 600, (30.25, 1.5)),
        ("train/mlp/seed1/l1", 19.5, 700, (28.0, 0.25)),
        ("spectrum/mlp/seed0", 50.0, 1500, None),  # no usage line: a job killed, or older
        ("results/limits_table", 1.25, "-", (0.5, 0.125)),
    ]:
        path = bench / f"{rel}.tsv"
        path.parent.mkdir(parents=True, exist_ok=True)
        # the benchmark's own cpu_time (the last column) is not what is summed
        path.write_text(HEADER + f"{s}\t0:00:20\t{rss}\t1\t1\t1\t0\t0\t50\t{s}\n")
        log = logs / f"{rel}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        lines = "epoch 1\n" + (
            f"job usage: user {cpu[0]} s, system {cpu[1]} s, peak resident 600 MB\n" if cpu else ""
        )
        log.write_text(lines)
    stages = by_stage(job_times(bench))
    assert [r["stage"] for r in stages] == ["spectrum", "train", "results"]
    train = stages[1]
    assert train["jobs"] == 2 and train["sum_s"] == 40.0 and train["max_s"] == 20.5
    assert train["cpu_s"] == 60.0 and train["cpu_jobs"] == 2
    assert train["max_rss_mb"] == 700 and stages[2]["max_rss_mb"] == 0
    assert "| **total** | 4 | 91.2 | 60.6 (3 of 4 jobs) |" in table(stages)
    main([str(bench)])
    out = capsys.readouterr().out
    assert "| train | 2 | 40.0 | 60.0 | 20.5 | 700 |" in out
    assert "| spectrum | 1 | 50.0 | - | 50.0 | 1500 |" in out


def test_the_usage_line_counts_a_childs_cpu_seconds(tmp_path):
    """The line a job's log ends with reads back as what the kernel counted, children
    included: a child that spins for 0.3 s of CPU."""

    def read(line: str) -> dict:
        (tmp_path / "job.log").write_text("output\n" + line + "\n")
        usage = read_usage(tmp_path / "job.log")
        assert usage["cpu_s"] == pytest.approx(usage["user_s"] + usage["system_s"])
        return usage

    before = read(usage_line())
    spin = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass"
    subprocess.run([sys.executable, "-c", spin], check=True)
    after = read(usage_line())
    assert after["cpu_s"] - before["cpu_s"] >= 0.3 - 0.02  # the line's two fields: 0.01 s each
    assert after["peak_mb"] > 10  # a Python process
    assert read_usage(tmp_path / "missing.log") is None
