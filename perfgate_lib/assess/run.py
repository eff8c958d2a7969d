"""One assessment run, as ``notebooks/assess.ipynb`` and ``perfgate assess`` do it."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from perfgate_lib.assess import render
from perfgate_lib.assess.assessment import QUESTIONS, Assessment, AssessmentError, assess_source
from perfgate_lib.assess.confirm import apply_reply, waived
from perfgate_lib.assess.diffsource import DEFAULT_REPO, open_source
from perfgate_lib.io import storage
from perfgate_lib.io.paramfile import kit_path, read_json_object

if TYPE_CHECKING:
    import pandas as pd

OUTPUT_FILES = {
    "assessment": "assessment.json",
    "table": "assessment.md",
    "block": "confirmation.txt",
    "waiver": "waiver.md",
}


@dataclass
class AssessResult:
    """An assessment and its renderings (``waiver``: the comment when the reply waived)."""

    assessment: Assessment
    block: str
    table_md: str
    waiver: str | None = None
    out_dir: str = ""

    @property
    def table(self) -> pd.DataFrame:
        """One row per file: the answers, summary, and every evidence line."""
        import pandas as pd

        rows = []
        for path, f in self.assessment.per_file.items():
            lines = [f"{q}: {e}" for q in QUESTIONS for e in f.evidence.get(q, [])]
            rows.append(
                {"file": path, **f.answers(), "summary": f.summary, "evidence": "\n".join(lines)}
            )
        return pd.DataFrame(rows, columns=["file", *QUESTIONS, "summary", "evidence"])


def resolve_checkout(path: str) -> str:
    """A relative ``checkout`` found wherever the kit is installed (``kit_path``)."""
    return kit_path(path)


def run_assess(
    *,
    pr: int | None = None,
    repo: str = DEFAULT_REPO,
    checkout: str = "",
    base: str = "",
    head: str = "",
    reply: str = "",
    reviewer: str | None = None,
    out_dir: str = "",
) -> AssessResult:
    """Assess a PR or a local range, add the source's notes, apply a reply, write outputs."""
    source = open_source(
        pr=pr or None,
        repo=repo or DEFAULT_REPO,
        checkout=resolve_checkout(checkout) if checkout else None,
        base=base or None,
        head=head or None,
    )
    assessment = assess_source(source)
    if source.notes:  # caveats of the source itself (e.g. GitHub's compare API failed)
        assessment = replace(assessment, flags=[*assessment.flags, *source.notes])
    if reply and reply.strip():
        assessment = apply_reply(assessment, reply, reviewer=reviewer)
    result = AssessResult(
        assessment=assessment,
        block=render.render_assessment_block(assessment),
        table_md=render.render_assessment_table(assessment),
        waiver=render.render_waiver_comment(assessment, reviewer) if waived(assessment) else None,
    )
    if out_dir:
        write_outputs(result, out_dir)
    return result


def write_outputs(result: AssessResult, out_dir: str) -> dict[str, str]:
    """Write the output files into ``out_dir``; returns name -> path written."""
    storage.makedirs(out_dir)
    texts = {
        "assessment": assessment_text(result.assessment),
        "table": result.table_md + "\n",
        "block": result.block + "\n",
    }
    if result.waiver:
        texts["waiver"] = result.waiver
    written = {}
    for key, text in texts.items():
        path = storage.join(out_dir, OUTPUT_FILES[key])
        storage.write_text(path, text)
        written[key] = path
    result.out_dir = out_dir
    return written


def assessment_text(assessment: Assessment) -> str:
    """assessment.json's text (UTF-8, indented): the one writer, read by :func:`load_assessment`."""
    return json.dumps(assessment.to_json(), indent=2, ensure_ascii=False) + "\n"


def load_assessment(path: str) -> Assessment:
    """Read an assessment.json written by :func:`write_outputs` (path or URL)."""
    data = read_json_object(path, lambda problem: AssessmentError(path, None, problem))
    return Assessment.from_json(data, path)


def styled_table(result: AssessResult):  # -> pandas Styler
    """The per-file table with evidence, wrapped for reading (in a notebook)."""
    return (
        result.table.style.set_properties(
            subset=["summary", "evidence"], **{"white-space": "pre-wrap", "text-align": "left"}
        )
        .set_table_styles([{"selector": "th", "props": [("text-align", "left")]}])
        .hide(axis="index")
    )


def show(result: AssessResult) -> None:
    """Display the confirmation block and the comment table (in a notebook)."""
    from IPython.display import Markdown, display

    from perfgate_lib.mdtext import md_fence

    display(Markdown(md_fence(result.block, "text")))
    display(Markdown(result.table_md))
    if result.waiver:
        display(Markdown("**Waiver comment:**\n\n" + result.waiver))
