"""The explore notebook's one call: a gate's history, analysed, written to ``out_dir``."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from matplotlib.figure import Figure

from perfgate_lib.audit import history, history_charts
from perfgate_lib.audit.history import ChangePoint, History
from perfgate_lib.io import storage
from perfgate_lib.io.paramfile import kit_path
from perfgate_lib.verdict.charts import png_bytes, save_png
from perfgate_lib.verdict.compare import strict_dumps
from perfgate_lib.verdict.report import PerfReport, load_report

SUMMARY_FILE = "history_summary.json"
CHART_FILE = "history_trends.png"


@dataclass
class ExploreResult:
    history: History
    points: list[ChangePoint]
    summary: dict
    figure: Figure
    treatment: PerfReport | None
    out_dir: str

    @property
    def stages_table(self) -> pd.DataFrame:
        """Per stage: reports, latest_s, median_s, trend_pct, spread_pct, n, too_noisy."""
        return pd.DataFrame.from_dict(self.summary["stages"], orient="index")

    @property
    def change_points_table(self) -> pd.DataFrame:
        """One row per change point: stage, time, before_s, after_s, shift_pct, z."""
        cols = ["stage", "time", "before_s", "after_s", "shift_pct", "z"]
        return pd.DataFrame(self.summary["change_points"], columns=cols)

    @property
    def placement_table(self) -> pd.DataFrame:
        """Treatment per stage: treatment_s, median_s, delta_pct, percentile, robust_z, n."""
        if self.treatment is None:
            return pd.DataFrame()
        return history.place_treatment(self.history.stages, self.treatment, self.summary["last_n"])

    def show_chart(self) -> None:
        """Display the trend chart inline (in a notebook)."""
        from IPython.display import Image, display

        display(Image(data=png_bytes(self.figure), format="png"))

    @property
    def skipped_table(self) -> pd.DataFrame:
        """Malformed reports left out: path, reason."""
        return pd.DataFrame(self.summary["skipped"], columns=["path", "reason"])


def run_explore(
    gate: int,
    mirror: str = history.DEFAULT_MIRROR,
    *,
    treatment: str = "",
    last_n: int = history.DEFAULT_LAST_N,
    out_dir: str = "",
) -> ExploreResult:
    """Load, detect change points, place the treatment ("" for none), write the outputs into
    ``out_dir`` ("" for none); relative paths are found from the kit's root too."""
    treatment, mirror = kit_path(treatment), kit_path(mirror)
    treated = load_report(treatment) if treatment else None
    hist = history.load_history(gate, mirror)
    points = history.detect_change_points(hist.stages)
    summary = history.summarize(hist, last_n=last_n, treatment=treated, points=points)
    fig = history_charts.trend_chart(hist, points=points, treatment=treated, last_n=last_n)
    if out_dir:
        storage.write_text(storage.join(out_dir, SUMMARY_FILE), strict_dumps(summary))
        save_png(fig, storage.join(out_dir, CHART_FILE))
    return ExploreResult(hist, points, summary, fig, treated, out_dir)
