from bench.extras import INSTALL, missing, refusal


def test_a_bench_without_its_tools_is_refused_with_the_install_line(tmp_path):
    gone = missing(tmp_path, profiling=True, has_module=lambda name: False)
    assert gone == ["matplotlib", "py-spy"]
    assert refusal(gone) == ("matplotlib and py-spy not installed: "
                             f"install the bench tools with `{INSTALL}`")


def test_py_spy_is_needed_only_when_a_profile_step_runs(tmp_path):
    assert missing(tmp_path, profiling=False, has_module=lambda name: True) == []
    (tmp_path / "py-spy").write_text("")
    assert missing(tmp_path, profiling=True, has_module=lambda name: True) == []
    assert refusal([]) is None
