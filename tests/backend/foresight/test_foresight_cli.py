"""`gendan foresight train` / `score` against a temporary SQLite database with the demo's history."""

from __future__ import annotations

from typer.testing import CliRunner

from backend.cli.main import app

runner = CliRunner()


def gendan(db_url: str, *args: str, lang: str = "C.UTF-8"):
    return runner.invoke(app, list(args), env={"DATABASE_URL": db_url, "LANG": lang, "LC_ALL": ""})


def test_train_prints_the_figures_and_score_counts(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'fs.db'}"
    assert gendan(db_url, "migrate").exit_code == 0
    # before any history: training works and says there is too little
    empty = gendan(db_url, "foresight", "train")
    assert empty.exit_code == 0, empty.output
    assert "trained on 0 closed orders" in empty.output and "No closed orders yet" in empty.output
    assert gendan(db_url, "demo", "--orders", "300").exit_code == 0
    out = gendan(db_url, "foresight", "train")
    assert out.exit_code == 0, out.output
    assert "closed orders" in out.output and "live: yes" in out.output
    zh = gendan(db_url, "foresight", "score", lang="zh_CN.UTF-8")
    assert zh.exit_code == 0 and "个进行中订单打分" in zh.output
