from prunelimit.bench.dag import by_stage, job_times, main, table

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def test_sums_benchmarks_by_stage(tmp_path, capsys):
    for rel, s, rss in [
        ("train/mlp/seed0/l1.tsv", 20.5, 600),
        ("train/mlp/seed1/l1.tsv", 19.5, 700),
        ("spectrum/mlp/seed0.tsv", 50.0, 1500),
        ("results/limits_table.tsv", 1.25, "-"),
    ]:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(HEADER + f"{s}\t0:00:20\t{rss}\t1\t1\t1\t0\t0\t50\t{s}\n")
    stages = by_stage(job_times(tmp_path))
    assert [r["stage"] for r in stages] == ["spectrum", "train", "results"]
    train = stages[1]
    assert train["jobs"] == 2 and train["sum_s"] == 40.0 and train["max_s"] == 20.5
    assert train["max_rss_mb"] == 700 and stages[2]["max_rss_mb"] == 0
    assert "| **total** | 4 | 91.2 |" in table(stages)
    main([str(tmp_path)])
    assert "| train | 2 | 40.0 | 20.5 | 700 |" in capsys.readouterr().out
