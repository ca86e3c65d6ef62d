"""The figure-job benchmark finds the jobs whose inputs a results folder holds."""

from prunelimit.bench.figures import jobs


def test_jobs_are_found_by_their_inputs(tmp_path):
    (tmp_path / "ntk").mkdir()
    (tmp_path / "ntk" / "sweep.csv").write_text("p\n0\n")
    spline = tmp_path / "mlp" / "seed0" / "spline"
    spline.mkdir(parents=True)
    (spline / "eb.json").write_text("{}")
    found = jobs(tmp_path)
    assert sorted(found) == ["ntk_figures", "spline_figures[mlp]"]
    for code in found.values():
        compile(code, "<job>", "exec")  # every job is a whole script
    assert 'seeds("mlp/seed*/spline/eb.json")' in found["spline_figures[mlp]"]
